"""The resident poller (waagent-wirepoll) beside bus-activated wire on a private bus."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.paths import PYTHON
from tests.harness.users import as_user
from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, wire_system
from waagent.common.names import WIRE, WIRE_USER
from waagent.fabric.scenario import Scenario

# Wire leaves 2 s after its last work; heartbeats every second (thresholds scale with it).
CONFIG = {"Services.IdleTimeout": "2"}
WIRE_ARGS = ["--with-poller", "--heartbeat-period", "1"]


@dataclass
class PollerSystem:
    wire: WireSystem
    proc: subprocess.Popen[bytes] | None = None

    @property
    def state_path(self) -> Path:
        return self.wire.state_file("poll_state.json")

    def start(self) -> subprocess.Popen[bytes]:
        env = self.wire.env
        argv = [
            *as_user(WIRE_USER),
            PYTHON,
            "-m",
            "waagent.wirepoll",
            "--root",
            str(env.sandbox.root),
            "--verbose",
        ]
        environ = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": env.address}
        self.proc = subprocess.Popen(argv, env=environ, stdout=subprocess.DEVNULL)
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def wire_running(self) -> bool:
        reply = self.wire.env.busctl.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            "s",
            WIRE.name,
        )
        return bool(reply.ok and reply.data[0])

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_path.read_text())
        return data

    def wait_wire_gone(self, timeout: float = 60) -> None:
        """Full wire went idle and handed the polling back (its state written, the name free)."""
        wait_for(
            lambda: not self.wire_running() and self.state_path.exists(),
            timeout=timeout,
            what="wire to leave the polling to the poller",
        )

    def wakes(self) -> int:
        return self.wire.log().count("poll now:")


@contextlib.contextmanager
def poller_system(scenario: Scenario | None = None, **extra: str) -> Iterator[PollerSystem]:
    with wire_system(scenario, extra={**CONFIG, **extra}, wire_args=WIRE_ARGS) as wire:
        system = PollerSystem(wire)
        try:
            yield system
        finally:
            system.stop()
