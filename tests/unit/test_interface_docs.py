"""dbus/interfaces/*.xml is the documented contract: it must match the code and document everything.

Like systemd's update-dbus-docs --test: the structure printed by `--bus-introspect` is compared
with the file, and every interface, method, signal, property and argument needs a doc summary.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from tests.harness.paths import INTERFACES_DIR
from waagent.common.names import SERVICES

DOC = "{http://www.freedesktop.org/dbus/1.0/doc.dtd}"
PROGRAMS = sorted(
    p for p in SERVICES if importlib.util.find_spec(f"waagent.{p}.__main__") is not None
)


def structure(xml: str) -> dict[str, Any]:
    """Interfaces by name: members with their signatures, ignoring docs and the names of
    out-arguments and signal arguments (dbus-fast cannot name them; the docs do)."""
    root = SafeET.fromstring(xml)
    result: dict[str, Any] = {}
    for iface in root.iter("interface"):
        members: dict[str, Any] = {}
        for method in iface.findall("method"):
            members["method " + method.get("name")] = [
                (
                    a.get("direction", "in"),
                    a.get("type"),
                    a.get("name") if a.get("direction", "in") == "in" else None,
                )
                for a in method.findall("arg")
            ]
        for signal in iface.findall("signal"):
            members["signal " + signal.get("name")] = [a.get("type") for a in signal.findall("arg")]
        for prop in iface.findall("property"):
            members["property " + prop.get("name")] = (prop.get("type"), prop.get("access"))
        result[iface.get("name")] = members
    return result


def introspect(program: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"waagent.{program}", "--bus-introspect"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("program", PROGRAMS)
def test_bus_introspect_prints_valid_xml_matching_the_documented_interface(program: str) -> None:
    printed = structure(introspect(program))
    documented: dict[str, Any] = {}
    for name in printed:
        path = INTERFACES_DIR / f"{name}.xml"
        assert path.exists(), f"{name} has no documentation file {path}"
        documented.update(structure(path.read_text()))
    assert printed == documented


def undocumented(xml: str) -> list[str]:
    root = SafeET.fromstring(xml)
    missing = []

    def summary(element: Any) -> str:
        doc = element.find(f"{DOC}doc")
        text = doc.findtext(f"{DOC}summary") if doc is not None else None
        return (text or "").strip()

    for iface in root.iter("interface"):
        name = iface.get("name")
        if not summary(iface):
            missing.append(name)
        for kind in ("method", "signal", "property"):
            for member in iface.findall(kind):
                label = f"{name}.{member.get('name')}"
                if not summary(member):
                    missing.append(label)
                for i, arg in enumerate(member.findall("arg")):
                    if not summary(arg):
                        missing.append(f"{label} argument {arg.get('name') or i}")
    return missing


@pytest.mark.parametrize("path", sorted(INTERFACES_DIR.glob("*.xml")), ids=lambda p: p.name)
def test_every_member_of_the_documented_interfaces_has_a_summary(path: Any) -> None:
    assert undocumented(path.read_text()) == []
