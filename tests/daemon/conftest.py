"""The supervisor's tests run the `waagent` command on the same private system as tests/cli."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli.conftest import system
from tests.cli.system import CliSystem

__all__ = ["system"]

BUS_DAEMON = "org.freedesktop.DBus"


@pytest.fixture
def address(system: CliSystem) -> str:
    """A system bus address where nothing listens (its directory does not exist yet): the
    daemon starts a bus of its own there."""
    return f"unix:path={system.env.base}/no-bus/system_bus_socket"


def busctl(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["busctl", f"--address={address}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
