"""A minimal DER encoder: just the ASN.1 types CMS and PKCS#12 need.

The fabric builds its own CMS and PKCS#12 structures (the agent parses them with other code), so
the encoder is small and explicit: each function returns the complete TLV bytes.
"""

from __future__ import annotations

INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31


def tlv(tag: int, content: bytes) -> bytes:
    """Tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    # DER orders the elements of a SET OF by their encodings.
    return tlv(SET, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    size = value.bit_length() // 8 + 1  # room for the sign bit
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def null() -> bytes:
    return tlv(NULL, b"")


def bmp_string(value: str) -> bytes:
    return tlv(BMP_STRING, value.encode("utf-16-be"))


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk, rest = [arc & 0x7F], arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return tlv(OBJECT_IDENTIFIER, bytes(body))


def explicit(number: int, content: bytes) -> bytes:
    """[number] EXPLICIT: a constructed context tag around a complete encoding."""
    return tlv(0xA0 | number, content)


def implicit_primitive(number: int, value: bytes) -> bytes:
    """[number] IMPLICIT of a primitive type (OCTET STRING): the value bytes, retagged."""
    return tlv(0x80 | number, value)


def algorithm(dotted: str, parameters: bytes | None = None) -> bytes:
    """AlgorithmIdentifier: OID plus parameters (NULL when the algorithm takes none)."""
    return sequence(oid(dotted), null() if parameters is None else parameters)
