"""GNOME's D-Bus stack (GLib's GDBus, through the `gdbus` tool) against the real services on a
private system bus with the repo's policy files: nothing may work only with dbus-fast or busctl.

Each service is bus-activated by GDBus itself, introspected (the live interface must be the
documented one in dbus/interfaces/), its properties read with GetAll, and a refusal seen by a
GDBus caller as the service's own D-Bus error name and one-line message. The signals a GDBus
client watches are in tests/diskd/test_gdbus_signals.py (they need a disk to change)."""

from __future__ import annotations

import shutil

import pytest

from tests.harness.callers import UNPRIVILEGED, gdbus
from tests.harness.environment import Environment
from tests.harness.paths import INTERFACES_DIR
from tests.unit.test_interface_docs import PROGRAMS, structure
from waagent.common.names import DISK, SERVICES, WIRE
from waagent.diskd.bus import MAX_SWAP_MB

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("gdbus") is None, reason="needs gdbus (libglib2.0-bin)"),
]


def only_ours(xml: str) -> dict[str, object]:
    return {k: v for k, v in structure(xml).items() if k.startswith("org.waagent.")}


@pytest.mark.parametrize("program", PROGRAMS)
def test_gdbus_activates_and_introspects_each_service_as_documented(
    env: Environment, program: str
) -> None:
    service = SERVICES[program]
    result = gdbus(
        env.address,
        "introspect",
        "--system",
        "--dest",
        service.name,
        "--object-path",
        service.path,
        "--xml",
    )
    assert result.returncode == 0, result.stderr
    documented = (INTERFACES_DIR / f"{service.interface}.xml").read_text()
    assert only_ours(result.stdout) == only_ours(documented)


@pytest.mark.parametrize("program", PROGRAMS)
def test_gdbus_reads_every_documented_property(env: Environment, program: str) -> None:
    service = SERVICES[program]
    result = gdbus(
        env.address,
        "call",
        "--system",
        "--dest",
        service.name,
        "--object-path",
        service.path,
        "--method",
        "org.freedesktop.DBus.Properties.GetAll",
        service.interface,
    )
    assert result.returncode == 0, result.stderr
    documented = structure((INTERFACES_DIR / f"{service.interface}.xml").read_text())
    names = [m.split(" ", 1)[1] for m in documented[service.interface] if m.startswith("property ")]
    assert names, f"{service.interface} documents no property"
    for name in names:
        assert f"'{name}': <" in result.stdout, f"{name} missing from {result.stdout}"


def test_a_gdbus_caller_sees_the_services_error_name_and_message(env: Environment) -> None:
    """A swap size over diskd's bound: its InvalidArgs, as a GLib client maps it."""
    too_big = MAX_SWAP_MB + 1
    result = gdbus(
        env.address,
        "call",
        "--system",
        "--dest",
        DISK.name,
        "--object-path",
        DISK.path,
        "--method",
        f"{DISK.interface}.SetSwap",
        str(too_big),
    )
    assert result.returncode != 0
    expected = f"invalid swap size {too_big} MiB: at most {MAX_SWAP_MB} MiB"
    assert f"GDBus.Error:org.waagent.Error.InvalidArgs: {expected}" in result.stderr


def test_a_gdbus_caller_without_the_right_is_refused_with_a_clear_error(env: Environment) -> None:
    """Refresh is root's (wire's fabric traffic on demand): an unprivileged GLib client gets the
    service's refusal, not a timeout or a generic failure."""
    result = gdbus(
        env.address,
        "call",
        "--system",
        "--dest",
        WIRE.name,
        "--object-path",
        WIRE.path,
        "--method",
        f"{WIRE.interface}.Refresh",
        user=UNPRIVILEGED,
    )
    assert result.returncode != 0
    assert (
        "GDBus.Error:org.waagent.Error.NotAuthorized: only root may call "
        f"{WIRE.interface}.Refresh" in result.stderr
    ), result.stderr
