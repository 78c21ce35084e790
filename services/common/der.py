"""A minimal BER/DER reader: enough to walk CMS EnvelopedData and PKCS#12 structures.

`cryptography` decrypts PKCS#7 only for recipients named by issuer and serial number; the fabric
names the transport certificate by SubjectKeyIdentifier (§3.1), so the structure is walked here
and every cryptographic operation stays with `cryptography`. Indefinite lengths and constructed
OCTET STRINGs (streaming BER) are accepted; anything malformed raises `DerError`.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
MAX_DEPTH = 32


class DerError(ValueError):
    pass


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    # The whole encoding (tag, length, value), for comparing structures such as an issuer name.
    raw: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    @property
    def tag_class(self) -> int:
        return self.tag & 0xC0

    @property
    def number(self) -> int:
        return self.tag & 0x1F

    def children(self) -> list[Tlv]:
        return parse_all(self.value)

    def octets(self) -> bytes:
        """The bytes of an OCTET STRING, joining the chunks of a constructed one."""
        if not self.constructed:
            return self.value
        return b"".join(child.octets() for child in self.children())

    def integer(self) -> int:
        return int.from_bytes(self.value, "big", signed=True)

    def oid(self) -> str:
        return decode_oid(self.value)


def _length(data: bytes, pos: int) -> tuple[int | None, int]:
    if pos >= len(data):
        raise DerError("truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    if first == 0x80:
        return None, pos  # indefinite (BER)
    count = first & 0x7F
    if count > 8 or pos + count > len(data):
        raise DerError("bad length")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def _read(data: bytes, pos: int, depth: int) -> tuple[Tlv, int]:
    if depth > MAX_DEPTH:
        raise DerError("nested too deeply")
    start = pos
    if pos >= len(data):
        raise DerError("truncated tag")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers are not used in these structures")
    length, pos = _length(data, pos)
    if length is not None:
        end = pos + length
        if end > len(data):
            raise DerError("value runs past the end")
        return Tlv(tag, data[pos:end], data[start:end]), end
    if not tag & 0x20:
        raise DerError("indefinite length on a primitive value")
    content_start = pos
    while True:
        if data[pos : pos + 2] == b"\x00\x00":
            value = data[content_start:pos]
            return Tlv(tag, value, data[start : pos + 2]), pos + 2
        _, pos = _read(data, pos, depth + 1)


def parse(data: bytes) -> Tlv:
    tlv, end = _read(data, 0, 0)
    if end != len(data) and data[end:].strip(b"\x00"):
        raise DerError("trailing data")
    return tlv


def parse_all(data: bytes) -> list[Tlv]:
    items = []
    pos = 0
    while pos < len(data):
        if data[pos : pos + 2] == b"\x00\x00":
            break  # end-of-contents of an enclosing indefinite value
        tlv, pos = _read(data, pos, 1)
        items.append(tlv)
    return items


def decode_oid(value: bytes) -> str:
    if not value:
        raise DerError("empty OID")
    parts: list[int] = []
    acc = 0
    for byte in value:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    first = parts[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(p) for p in head + parts[1:])
