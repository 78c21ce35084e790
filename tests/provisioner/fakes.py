"""Stand-ins for the services the provisioner's logic talks to, recording what it asked.

Only for unit tests of the logic; the integration tests use the real wire service (with the
fabric simulator) and bus stand-ins for hostnamed and systemd (`standins.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from waagent.common.errors import FabricUnavailable
from waagent.common.models.events import TelemetryBatch, TelemetryEvent
from waagent.common.models.goal_state import Certificate


@dataclass
class FakeWire:
    certs: list[Certificate] = field(default_factory=list)
    imds: str | None = None
    reachable: bool = True
    reports: list[tuple[str, str, str]] = field(default_factory=list)
    certificate_calls: int = 0
    refreshes: int = 0
    events: list[TelemetryEvent] = field(default_factory=list)

    async def report_health(self, state: str, substatus: str, description: str) -> None:
        if not self.reachable:
            raise FabricUnavailable("the WireServer does not answer")
        self.reports.append((state, substatus, description))

    async def send_events(self, batch: TelemetryBatch) -> None:
        if not self.reachable:
            raise FabricUnavailable("wire is not on the bus")
        self.events.extend(batch.events)

    async def certificates(self) -> list[Certificate]:
        self.certificate_calls += 1
        return list(self.certs)

    async def refresh(self) -> None:
        self.refreshes += 1

    async def instance_metadata(self) -> str:
        if self.imds is None:
            raise FabricUnavailable("IMDS does not answer")
        return self.imds


@dataclass
class FakeUnits:
    """systemd: absent unless `present`; `units` are the unit files that exist."""

    present: bool = False
    units: set[str] = field(default_factory=lambda: {"ssh.service"})
    enabled_units: set[str] = field(default_factory=set)
    restarted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    async def try_restart(self, candidates: Sequence[str]) -> str | bool:
        if not self.present:
            return False
        for unit in candidates:
            if unit in self.units:
                self.restarted.append(unit)
                return unit
        return ""

    async def queue_stop(self, unit: str) -> bool:
        if self.present:
            self.stopped.append(unit)
        return self.present

    async def enabled(self, unit: str) -> bool | None:
        return unit in self.enabled_units if self.present else None


@dataclass
class FakeHostnamed:
    present: bool = True
    names: list[str] = field(default_factory=list)

    async def set_hostname(self, name: str) -> bool:
        if self.present:
            self.names.append(name)
        return self.present
