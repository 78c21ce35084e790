"""Building the fabric's XML documents: ElementTree for structure, our own declaration line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def element(
    tag: str,
    text: object = None,
    attrs: Mapping[str, object] | None = None,
    children: Iterable[ET.Element] = (),
) -> ET.Element:
    node = ET.Element(tag, {k: str(v) for k, v in (attrs or {}).items() if v is not None})
    if text is not None:
        node.text = str(text)
    node.extend(children)
    return node


def render(root: ET.Element) -> bytes:
    ET.indent(root)
    return (DECLARATION + ET.tostring(root, encoding="unicode") + "\n").encode()


def error(code: str, message: str) -> bytes:
    """The error body Azure's services send: <Error><Code/><Message/></Error>."""
    return render(element("Error", children=[element("Code", code), element("Message", message)]))
