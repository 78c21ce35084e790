"""XML character data and attribute values, escaped with the standard library's core only.

`xml.sax.saxutils` does the same, but importing it pulls in `urllib.request`, and with it
`email`, `ssl`, `tempfile` and the compression modules: some 8 MiB of RSS in the resident
poller, which escapes a few strings per hour. Same output as saxutils (tests/unit/test_xml_text.py
holds them side by side).
"""

from __future__ import annotations

_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTRIBUTE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


def escape(text: str) -> str:
    """`&`, `<` and `>` as entities: safe as element content."""
    return text.translate(_TEXT)


def quoteattr(value: str) -> str:
    """An attribute value with its quotes: double quotes unless the value has some and no
    single quote; whitespace kept as character references, so a parser reads it back unchanged."""
    value = value.translate(_ATTRIBUTE)
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return '"{}"'.format(value.replace('"', "&quot;"))
