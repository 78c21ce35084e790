"""common/lean.py: the resident processes' imports leave TLS and OpenSSL out, and the block ends
with the import (a fresh interpreter per case, as each resident process is). Also what the
provisioner's entry point leaves out (issue 17: its start is on the critical path to Ready)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from waagent.wirepoll import duties

# Libraries the services use and the resident processes must not (issue 17), then the parts of
# the standard library that map OpenSSL or pull in much more than they give.
LIBRARIES = ("pydantic", "httpx", "cryptography", "dbus_fast", "defusedxml", "anyio")
STDLIB = ("ssl", "_ssl", "_hashlib", "hashlib", "urllib.request", "xml.sax", "secrets")


def imported(module: str) -> dict[str, object]:
    """What a fresh interpreter holds after importing `module` the way its entry point does."""
    code = (
        "import json, sys\n"
        "from waagent.common.lean import without_ssl\n"
        "with without_ssl():\n"
        f"    import {module}\n"
        f"libraries, stdlib = {LIBRARIES!r}, {STDLIB!r}\n"
        "loaded = sorted(m for m in sys.modules if m in stdlib or m.split('.')[0] in libraries)\n"
        "ours = sorted(m for m in sys.modules if m.startswith('waagent.'))\n"
        "client = sys.modules.get('http.client')\n"
        "https = client and hasattr(client, 'HTTPSConnection')\n"
        "import ssl  # the block is over: a later import works\n"
        "print(json.dumps({'loaded': loaded, 'ours': ours, 'https': https, 'ssl': ssl.OPENSSL_VERSION}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("module", ["waagent.wirepoll.poller", "waagent.daemon.resident"])
def test_a_resident_process_imports_the_stdlib_alone_without_tls_or_openssl(module: str) -> None:
    result = imported(module)
    assert result["loaded"] == []
    assert not result["https"]  # the poller's http.client offers no HTTPS
    assert str(result["ssl"]).startswith("OpenSSL")


def test_the_provisioner_loads_none_of_extds_models_nor_wires_state() -> None:
    """They are extd's and wire's (status, handover, extension settings): some 20 ms of the
    provisioner's start at boot when the shared wire client and constants pulled them in."""
    ours = imported("waagent.provisioner.__main__")["ours"]
    assert isinstance(ours, list)
    assert "waagent.common.models.events" in ours  # the provisioner's own telemetry: loaded
    unused = ("models.status", "models.handover", "models.extensions", "wire.state")
    assert [m for m in ours if m.removeprefix("waagent.").removeprefix("common.") in unused] == []


def test_the_poller_hashes_the_goal_state_as_wire_does() -> None:
    """wire writes hashlib's SHA-256 of GoalState.xml; the poller's builtin must agree."""
    body = b'<?xml version="1.0"?><GoalState><Incarnation>7</Incarnation></GoalState>' * 50
    assert duties.sha256(body).hexdigest() == hashlib.sha256(body).hexdigest()
    assert duties.sha256.__module__ != "_hashlib"  # CPython's own, not OpenSSL's
