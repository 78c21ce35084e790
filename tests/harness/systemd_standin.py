"""A stand-in for systemd's manager on a private bus (we do not own systemd, so it may be faked).

It records StartTransientUnit/StopUnit calls and answers each job with JobRemoved, right after
the method reply, the way systemd does; `results` decides each job's outcome.
"""

# No `from __future__ import annotations`: dbus-fast reads signatures from annotations.
import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbus_fast.annotations import DBusBool, DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

JobRemovedArgs = Annotated[tuple[int, str, str, str], DBusSignature("uoss")]
UnitProps = Annotated[list[Any], DBusSignature("a(sv)")]
AuxUnits = Annotated[list[Any], DBusSignature("a(sa(sv))")]
ObjectPath = Annotated[str, DBusSignature("o")]


@dataclass
class Call:
    member: str
    unit: str
    properties: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class Manager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.systemd1.Manager")
        self.calls: list[Call] = []
        self.results: dict[str, str] = {}  # unit -> job result ("done" unless told otherwise)
        self._ids = itertools.count(1)
        self.subscribed = False

    def _job(self, unit: str) -> str:
        job_id = next(self._ids)
        path = f"/org/freedesktop/systemd1/job/{job_id}"
        result = self.results.get(unit, "done")
        # Like systemd: the reply goes first, the job's end follows on the same connection.
        asyncio.get_running_loop().call_soon(self.JobRemoved, job_id, path, unit, result)
        return path

    @dbus_method()
    def Subscribe(self) -> None:
        self.subscribed = True

    @dbus_method()
    def ResetFailedUnit(self, unit: DBusStr) -> None:
        self.calls.append(Call("ResetFailedUnit", unit))

    @dbus_method()
    def StartTransientUnit(
        self, name: DBusStr, mode: DBusStr, properties: UnitProps, aux: AuxUnits
    ) -> ObjectPath:
        self.calls.append(Call("StartTransientUnit", name, {k: v.value for k, v in properties}))
        return self._job(name)

    @dbus_method()
    def SetUnitProperties(self, name: DBusStr, runtime: DBusBool, properties: UnitProps) -> None:
        self.calls.append(Call("SetUnitProperties", name, {k: v.value for k, v in properties}))

    @dbus_method()
    def StopUnit(self, name: DBusStr, mode: DBusStr) -> ObjectPath:
        self.calls.append(Call("StopUnit", name))
        return self._job(name)

    @dbus_signal()
    def JobRemoved(self, job_id: int, job: str, unit: str, result: str) -> JobRemovedArgs:  # type: ignore[empty-body]
        return job_id, job, unit, result
