"""What a GNOME client built on GDBus watches: diskd's PropertiesChanged signals while root
resizes the swap, seen by `gdbus monitor`, and polkit's refusal of the same call by an
unprivileged GDBus caller (the action's name in the error, so a client can explain it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED, gdbus
from tests.harness.wait import wait_for
from waagent.common.names import DISK

from .disks import LoopDisk, ntfs_typed
from .system import Diskd, start_on

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("gdbus") is None, reason="needs gdbus (libglib2.0-bin)"),
]

Start = Callable[..., Diskd]
Disks = Callable[..., LoopDisk]
SET_SWAP = ("call", "--system", "--dest", DISK.name, "--object-path", DISK.path, "--method")


@pytest.fixture
def mounted(diskd: Start, loop_disks: Disks, tmp_path: Path) -> Diskd:
    disk = ntfs_typed(loop_disks(256))
    config = {"ResourceDisk.EnableSwap": "y", "ResourceDisk.SwapSizeMB": "32"}
    system = start_on(diskd, disk, tmp_path, config)
    assert system.settled()["State"] == "Mounted"
    return system


def test_gdbus_monitor_sees_the_swap_change_as_it_happens(mounted: Diskd, tmp_path: Path) -> None:
    out = tmp_path / "monitor.out"
    environ = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": mounted.env.address}
    with out.open("w") as sink:
        monitor = subprocess.Popen(
            ["gdbus", "monitor", "--system", "--dest", DISK.name, "--object-path", DISK.path],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environ,
        )
    try:
        wait_for(lambda: "Monitoring signals" in out.read_text(), what="gdbus monitor to start")
        reply = gdbus(mounted.env.address, *SET_SWAP, f"{DISK.interface}.SetSwap", "24")
        assert reply.returncode == 0, reply.stderr
        changed = f"org.freedesktop.DBus.Properties.PropertiesChanged ('{DISK.interface}', "
        wait_for(
            lambda: "'SwapSizeMB': <uint32 24>" in out.read_text(),
            what="the new swap size in a PropertiesChanged signal",
        )
        wait_for(lambda: "'State': <'Mounted'>" in out.read_text(), what="the State back")
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
    lines = [line for line in out.read_text().splitlines() if changed in line]
    assert any("'State': <'ConfiguringSwap'>" in line for line in lines), lines
    assert mounted.props()["SwapSizeMB"] == 24


def test_an_unprivileged_gdbus_caller_gets_polkits_refusal(mounted: Diskd) -> None:
    """Without the interactive flag, the standard error that tells a GLib client to retry with
    it (no agent is asked); with it, polkit is asked and, with no agent to authenticate the
    user, refuses: the action named either way, nothing changed."""
    address, method = mounted.env.address, f"{DISK.interface}.SetSwap"
    plain = gdbus(address, *SET_SWAP, method, "48", user=UNPRIVILEGED)
    assert plain.returncode != 0
    assert (
        "GDBus.Error:org.freedesktop.DBus.Error.InteractiveAuthorizationRequired: "
        f"{method} needs authentication (org.waagent.manage-swap)" in plain.stderr
    ), plain.stderr
    asked = gdbus(address, "call", "--interactive", *SET_SWAP[1:], method, "48", user=UNPRIVILEGED)
    assert asked.returncode != 0
    assert "GDBus.Error:org.waagent.Error.NotAuthorized" in asked.stderr, asked.stderr
    assert "org.waagent.manage-swap" in asked.stderr
    assert mounted.props()["SwapSizeMB"] == 32
