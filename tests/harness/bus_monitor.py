"""Who called what on a private bus: `dbus-monitor` (as root, the bus owner) in the background.

    with BusMonitor(env.bus, "type='method_call',destination='org.waagent.Wire1'") as monitor:
        ...
    monitor.calls_from(monitor.owner_of("org.waagent.Extensions1"))   # members, in order

Ownership changes (NameOwnerChanged) are always recorded, so a caller that was bus-activated
during the recording is known by its well-known name.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .dbus_daemon import PrivateBus
from .wait import wait_for

_CALL = re.compile(r"^method call .* sender=(\S+) -> destination=(\S+) .* member=(\S+)$")
_OWNER_CHANGED = "member=NameOwnerChanged"


@dataclass(frozen=True)
class Call:
    sender: str
    destination: str
    member: str


class BusMonitor:
    def __init__(self, bus: PrivateBus, *rules: str) -> None:
        self.bus = bus
        self.rules = [*rules, "type='signal',member='NameOwnerChanged'"]
        self.output = bus.workdir / f"monitor.{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BusMonitor:
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                ["dbus-monitor", "--address", self.bus.address, "--monitor", *self.rules],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(lambda: self._text().strip() != "", timeout=10, what="dbus-monitor to start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def _text(self) -> str:
        return Path(self.output).read_text(errors="replace")

    def calls(self) -> list[Call]:
        result = []
        for line in self._text().splitlines():
            match = _CALL.match(line)
            if match:
                result.append(Call(*match.groups()))
        return result

    def owner_of(self, name: str) -> str:
        """The unique name that last took `name` during the recording ("" if none did)."""
        lines = self._text().splitlines()
        owner = ""
        for n, line in enumerate(lines):
            if _OWNER_CHANGED in line and len(lines) > n + 3:
                values = [
                    v.strip().removeprefix("string ").strip('"') for v in lines[n + 1 : n + 4]
                ]
                if values[0] == name and values[2]:
                    owner = values[2]
        return owner

    def calls_from(self, sender: str, destination: str | None = None) -> list[str]:
        return [
            c.member
            for c in self.calls()
            if c.sender == sender and (destination is None or c.destination == destination)
        ]
