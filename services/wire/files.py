"""File names in wire's state directory shared by the resident service and its secrets helper."""

TRANSPORT_CERT = "TransportCert.pem"
TRANSPORT_KEY = "TransportPrivate.pem"
