"""The fabric's DHCP server: the VM's lease, as Azure's DHCP (168.63.129.16) hands it out.

One address for every client (the VM's), with option 245 (the WireServer endpoint), option 121
classless static routes (and 249, Microsoft's copy, when asked for), router, DNS, domain and lease
time; DISCOVER -> OFFER, REQUEST -> ACK or NAK, INFORM -> ACK, RELEASE and DECLINE recorded.
It listens on UDP 67 of one interface (SO_BINDTODEVICE: the fabric side of the veth) and answers
by broadcast, or by unicast to a client that already has its address (a renewal).

Every client message is recorded (kind "dhcp"): message type, MAC, client id, host name (option
12), client FQDN (option 81), requested address, and the answer. A malformed packet is logged,
counted and dropped; it never stops the server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .dhcp_packet import BadPacket, Message, Option, Request, classless_routes, parse, reply
from .recorder import Recorder

log = logging.getLogger(__name__)

SERVER_PORT, CLIENT_PORT = 67, 68
ANY, BROADCAST = "0.0.0.0", "255.255.255.255"  # noqa: S104 (an address, not a bind)
INFINITE = 0xFFFFFFFF


class DhcpRoute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    destination: str  # a network, "168.63.129.16/32"
    gateway: str

    @field_validator("destination")
    @classmethod
    def _network(cls, value: str) -> str:
        return str(ipaddress.IPv4Network(value))

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str) -> str:
        return str(ipaddress.IPv4Address(value))


def _default_routes() -> list[DhcpRoute]:
    # The platform's two host routes, and one test route nothing else would install.
    return [
        DhcpRoute(destination="168.63.129.16/32", gateway="10.0.0.1"),
        DhcpRoute(destination="169.254.169.254/32", gateway="10.0.0.1"),
        DhcpRoute(destination="10.99.0.0/16", gateway="10.0.0.1"),
    ]


class DhcpSettings(BaseModel):
    """What the lease carries (scenario table `[dhcp]`, admin operation `set_dhcp`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = "10.0.0.4"
    prefix: int = Field(default=24, ge=1, le=30)
    server: str = "168.63.129.16"  # server identifier, as on Azure
    router: str | None = "10.0.0.1"
    endpoint: str | None = "168.63.129.16"  # option 245; None or "" leaves it out
    routes: list[DhcpRoute] = Field(default_factory=_default_routes)  # option 121
    ms_routes: bool = False  # also send the routes as option 249
    dns: list[str] = Field(default_factory=lambda: ["168.63.129.16"])
    domain: str | None = "fabric.internal.cloudapp.net"
    lease_time: int = Field(default=3600, ge=10, le=INFINITE)

    @field_validator("address", "server", "router", "endpoint")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        return str(ipaddress.IPv4Address(value)) if value else None  # "" (TOML's none): left out

    @field_validator("dns")
    @classmethod
    def _ipv4s(cls, values: list[str]) -> list[str]:
        return [str(ipaddress.IPv4Address(value)) for value in values]

    def options(self) -> list[tuple[int, bytes]]:
        """The lease's options, in the order a reply carries them."""
        lease = self.lease_time
        infinite = lease == INFINITE
        packed = [
            (Option.LEASE_TIME, lease),
            (Option.RENEWAL_TIME, INFINITE if infinite else lease // 2),
            (Option.REBINDING_TIME, INFINITE if infinite else lease * 7 // 8),
        ]
        options = [(int(code), value.to_bytes(4, "big")) for code, value in packed]
        mask = ipaddress.IPv4Network(f"0.0.0.0/{self.prefix}").netmask
        options.append((Option.SUBNET_MASK, mask.packed))
        if self.router:
            options.append((Option.ROUTER, _packed(self.router)))
        if self.dns:
            options.append((Option.DNS, b"".join(_packed(a) for a in self.dns)))
        if self.domain:
            options.append((Option.DOMAIN_NAME, self.domain.encode("ascii")))
        if self.routes:
            routes = classless_routes((r.destination, r.gateway) for r in self.routes)
            options.append((Option.CLASSLESS_ROUTES, routes))
            if self.ms_routes:
                options.append((Option.MS_CLASSLESS_ROUTES, routes))
        if self.endpoint:
            options.append((Option.WIRESERVER, _packed(self.endpoint)))
        return options


def _packed(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


class DhcpServer(asyncio.DatagramProtocol):
    def __init__(self, settings: DhcpSettings, recorder: Recorder, interface: str) -> None:
        self.settings = settings
        self.recorder = recorder
        self.interface = interface
        self.dropped = 0
        self.leases: dict[str, str] = {}  # MAC -> address acknowledged
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
            sock.bind((ANY, SERVER_PORT))  # SO_BINDTODEVICE limits it to the interface
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        log.info("DHCP server on %s:%d", self.interface, SERVER_PORT)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def describe(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "dropped": self.dropped,
            "leases": dict(self.leases),
            "settings": self.settings.model_dump(mode="json"),
        }

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            request = parse(data)
            answer, address = self._answer(request)
        except BadPacket as exc:
            self.dropped += 1
            log.warning("DHCP: dropped a bad packet from %s: %s", addr[0], exc)
            return
        except Exception:  # a bug of ours must not stop the server either
            self.dropped += 1
            log.exception("DHCP: packet from %s not handled", addr[0])
            return
        if answer is not None and self._transport is not None:
            self._transport.sendto(answer, (address, CLIENT_PORT))

    def _fields(self, request: Request) -> dict[str, Any]:
        """What the client said (strictly: a malformed option 12, 81 or 50 drops the packet)."""
        fqdn = request.fqdn()
        client_id = request.options.get(Option.CLIENT_ID)
        return {
            "message_type": request.message.name,
            "mac": request.mac,
            "xid": request.xid,
            "client_id": client_id.hex() if client_id is not None else None,
            "hostname": request.text_option(Option.HOST_NAME),
            "fqdn": fqdn[1] if fqdn else None,
            "fqdn_flags": fqdn[0] if fqdn else None,
            "requested_address": request.address_option(Option.REQUESTED_ADDRESS),
            "ciaddr": request.ciaddr,
            "interface": self.interface,
        }

    def _decide(self, request: Request) -> Message | None:
        settings = self.settings
        if request.message == Message.DISCOVER:
            return Message.OFFER
        if request.message == Message.INFORM:
            return Message.ACK
        if request.message != Message.REQUEST:
            if request.message == Message.RELEASE:
                self.leases.pop(request.mac, None)
            return None
        server = request.address_option(Option.SERVER_ID)
        if server is not None and server != settings.server:
            return None  # the client chose another server's offer
        wanted = request.address_option(Option.REQUESTED_ADDRESS) or request.ciaddr
        if wanted != settings.address:
            return Message.NAK
        self.leases[request.mac] = settings.address
        return Message.ACK

    def _answer(self, request: Request) -> tuple[bytes | None, str]:
        fields = self._fields(request)
        decision = self._decide(request)
        self.recorder.record("dhcp", **fields, answer=decision.name if decision else None)
        if decision is None:
            return None, ""
        settings = self.settings
        if decision == Message.NAK:
            body = reply(request, decision, server=settings.server)
            return body, BROADCAST
        options = settings.options()
        yiaddr = settings.address
        if request.message == Message.INFORM:
            # RFC 2131 4.3.5: no lease, no address; the client has one already.
            yiaddr = ANY
            no_lease = (Option.LEASE_TIME, Option.RENEWAL_TIME, Option.REBINDING_TIME)
            options = [(code, value) for code, value in options if code not in no_lease]
        body = reply(request, decision, yiaddr=yiaddr, server=settings.server, options=options)
        # A client that has its address (renewal, INFORM) gets a unicast answer; one without
        # an address cannot receive one, so it gets a broadcast.
        unicast = request.ciaddr != ANY
        return body, request.ciaddr if unicast else BROADCAST
