"""DHCPv4 on the wire (RFC 2131, 2132): strict parsing of client messages, building replies.

A packet that breaks the format (short, wrong op or hardware type, no magic cookie, an option
running past the end, no message type) raises `BadPacket` with a one-line reason; the server logs
it and drops the packet. Options that appear more than once are concatenated (RFC 3396).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")  # op .. file: 236 bytes, then the cookie
MIN_LENGTH = HEADER.size + len(MAGIC)
MAX_LENGTH = 4096  # more than any client sends (RFC 2131 minimum 576); a bound for the parser
BOOTREQUEST, BOOTREPLY = 1, 2
ETHERNET, ETHERNET_LENGTH = 1, 6


class Message(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Option(IntEnum):
    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS = 6
    HOST_NAME = 12
    DOMAIN_NAME = 15
    REQUESTED_ADDRESS = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETERS = 55
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    CLIENT_ID = 61
    CLIENT_FQDN = 81
    CLASSLESS_ROUTES = 121
    MS_CLASSLESS_ROUTES = 249
    WIRESERVER = 245
    END = 255


class BadPacket(ValueError):
    """A packet that is not a well-formed DHCP client message."""


@dataclass(frozen=True)
class Request:
    """A client message: the fields a server answers from, and the options as sent."""

    message: Message
    xid: int
    flags: int
    ciaddr: str
    giaddr: str
    mac: str  # "00:0d:3a:2b:4c:5d"
    chaddr: bytes
    options: Mapping[int, bytes] = field(default_factory=dict)

    def address_option(self, code: int) -> str | None:
        value = self.options.get(code)
        if value is None:
            return None
        if len(value) != 4:
            raise BadPacket(f"option {code} is {len(value)} bytes, not an IPv4 address")
        return str(ipaddress.IPv4Address(value))

    def text_option(self, code: int) -> str | None:
        value = self.options.get(code)
        if value is None:
            return None
        try:
            return value.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise BadPacket(f"option {code} is not ASCII text") from None

    def fqdn(self) -> tuple[int, str] | None:
        """Option 81 (RFC 4702): its flags and the name (DNS wire format when flag E is set),
        without the root's trailing dot (both encodings then read the same)."""
        value = self.options.get(Option.CLIENT_FQDN)
        if value is None:
            return None
        if len(value) < 3:
            raise BadPacket("option 81 is shorter than its three fixed bytes")
        flags, name = value[0], value[3:]
        if flags & 0x04:
            return flags, _dns_name(name)
        try:
            return flags, name.rstrip(b"\0").decode("ascii").removesuffix(".")
        except UnicodeDecodeError:
            raise BadPacket("option 81 name is not ASCII") from None


def _dns_name(data: bytes) -> str:
    labels: list[str] = []
    at = 0
    while at < len(data):
        length = data[at]
        if length == 0:
            break
        if length > 63 or at + 1 + length > len(data):
            raise BadPacket("option 81 has a malformed DNS name")
        try:
            labels.append(data[at + 1 : at + 1 + length].decode("ascii"))
        except UnicodeDecodeError:
            raise BadPacket("option 81 name is not ASCII") from None
        at += 1 + length
    return ".".join(labels)


def _options(data: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    at = 0
    while at < len(data):
        code = data[at]
        if code == Option.END:
            return options
        if code == Option.PAD:
            at += 1
            continue
        if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
            raise BadPacket(f"option {code} runs past the end of the packet")
        length = data[at + 1]
        options[code] = options.get(code, b"") + data[at + 2 : at + 2 + length]
        at += 2 + length
    raise BadPacket("the options have no end marker")


def parse(data: bytes) -> Request:
    if not MIN_LENGTH <= len(data) <= MAX_LENGTH:
        raise BadPacket(f"{len(data)} bytes is not the size of a DHCP message")
    op, htype, hlen, _hops, xid, _secs, flags, ciaddr, _yi, _si, giaddr, chaddr, _s, _f = (
        HEADER.unpack_from(data)
    )
    if op != BOOTREQUEST:
        raise BadPacket(f"op {op} is not BOOTREQUEST")
    if htype != ETHERNET or hlen != ETHERNET_LENGTH:
        raise BadPacket(f"hardware type {htype}/{hlen} is not Ethernet")
    if data[HEADER.size : MIN_LENGTH] != MAGIC:
        raise BadPacket("no DHCP magic cookie")
    options = _options(data[MIN_LENGTH:])
    kind = options.get(Option.MESSAGE_TYPE)
    if kind is None or len(kind) != 1 or kind[0] not in Message._value2member_map_:
        raise BadPacket(f"message type {kind!r} is not a DHCP message type")
    return Request(
        message=Message(kind[0]),
        xid=xid,
        flags=flags,
        ciaddr=str(ipaddress.IPv4Address(ciaddr)),
        giaddr=str(ipaddress.IPv4Address(giaddr)),
        mac=":".join(f"{octet:02x}" for octet in chaddr[:ETHERNET_LENGTH]),
        chaddr=chaddr,
        options=options,
    )


def classless_routes(routes: Iterable[tuple[str, str]]) -> bytes:
    """Options 121/249 (RFC 3442): width, the significant octets of the network, the gateway."""
    encoded = b""
    for destination, gateway in routes:
        network = ipaddress.IPv4Network(destination)
        width = network.prefixlen
        encoded += bytes([width]) + network.network_address.packed[: (width + 7) // 8]
        encoded += ipaddress.IPv4Address(gateway).packed
    return encoded


def _encode(code: int, value: bytes) -> bytes:
    """One option, split into 255-byte pieces when longer (RFC 3396)."""
    pieces = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
    return b"".join(bytes([code, len(piece)]) + piece for piece in pieces)


def reply(
    request: Request,
    message: Message,
    *,
    yiaddr: str = "0.0.0.0",  # noqa: S104 (no address offered)
    server: str,
    options: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    header = HEADER.pack(
        BOOTREPLY, ETHERNET, ETHERNET_LENGTH, 0, request.xid, 0, request.flags,
        ipaddress.IPv4Address(request.ciaddr).packed, ipaddress.IPv4Address(yiaddr).packed,
        ipaddress.IPv4Address(server).packed, ipaddress.IPv4Address(request.giaddr).packed,
        request.chaddr, b"", b"",
    )  # fmt: skip
    body = _encode(Option.MESSAGE_TYPE, bytes([message]))
    body += _encode(Option.SERVER_ID, ipaddress.IPv4Address(server).packed)
    body += b"".join(_encode(code, value) for code, value in options)
    return header + MAGIC + body + bytes([Option.END])
