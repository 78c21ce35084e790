"""Reading fabric XML: defusedxml only, and lookups as tolerant as the classic agent's.

The classic agent finds "the first descendant with that tag name" regardless of namespace and
treats a missing attribute as an empty string; fabric documents rely on that tolerance, so the
helpers here do the same. Entities and DTDs are refused (no billion laughs, no external entities).
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .errors import MalformedDocument

BOM = b"\xef\xbb\xbf"


def parse(data: bytes, what: str) -> Element:
    """Parse a fabric document (BOM stripped) or raise MalformedDocument naming it."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MalformedDocument(f"{what} refused: {type(exc).__name__}") from None
    except SafeET.ParseError as exc:
        raise MalformedDocument(f"{what} is not well-formed XML: {exc}") from None
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_named(element: Element, name: str) -> Iterator[Element]:
    """Descendants (and the element itself) with this local name, in document order."""
    for item in element.iter():
        if isinstance(item.tag, str) and local_name(item.tag) == name:
            yield item


def find(element: Element, name: str) -> Element | None:
    return next(iter_named(element, name), None)


def children(element: Element, name: str) -> list[Element]:
    """Direct children with this local name."""
    return [c for c in element if isinstance(c.tag, str) and local_name(c.tag) == name]


def text_of(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def findtext(element: Element, name: str) -> str:
    return text_of(find(element, name))


def attr(element: Element, name: str) -> str:
    return element.get(name, "")
