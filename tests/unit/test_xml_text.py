"""common/xml_text.py against the standard library's xml.sax.saxutils, which it stands in for in
the resident processes, and read back by a real XML parser."""

from __future__ import annotations

from xml.sax import saxutils

import defusedxml.ElementTree as SafeET
import pytest

from waagent.common.xml_text import escape, quoteattr

TEXTS = [
    "",
    "plain",
    "a & b < c > d",
    "&amp; already",
    'say "hi"',
    "it's",
    "both ' and \"",
    "tab\there\nnewline\rreturn",
    "]]> and <![CDATA[",
    "ünïcødé €, 😀",
    "<script>alert('x')</script>",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_same_output_as_saxutils(text: str) -> None:
    assert escape(text) == saxutils.escape(text)
    assert quoteattr(text) == saxutils.quoteattr(text)


@pytest.mark.parametrize("text", TEXTS)
def test_a_parser_reads_back_the_exact_text(text: str) -> None:
    element = SafeET.fromstring(f"<e a={quoteattr(text)}>{escape(text)}</e>")
    assert element.get("a") == text
    # Element content: a parser normalises a bare CR to LF (XML 1.0 §2.11), as with saxutils.
    assert (element.text or "") == text.replace("\r", "\n")
