"""wire's state directory and the file names in it that other programs use: the secrets helper,
the poller, the provisioner, the CLI. Constants only, so importing them costs nothing."""

from pathlib import PurePosixPath

STATE_DIR = PurePosixPath("/var/lib/waagent-wire")

TRANSPORT_CERT = "TransportCert.pem"
TRANSPORT_KEY = "TransportPrivate.pem"
