"""A stand-in for org.freedesktop.systemd1 on the private bus, recording what extd asks of it.

We do not own systemd, so the D-Bus shape of extd's calls is checked against this recorder
(the real systemd is exercised by the system tests). Units are only remembered, never run.
"""

# No `from __future__ import annotations`: dbus-fast reads the signatures from the annotations.
import time
from typing import Annotated, Any

from dbus_fast import DBusError, Variant
from dbus_fast.annotations import DBusBool, DBusObjectPath, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, method

from waagent.extd.bus import encode_unit_path

Properties = Annotated[list[tuple[str, Variant]], DBusSignature("a(sv)")]
Auxiliary = Annotated[list[Any], DBusSignature("a(sa(sv))")]
NoValue = Annotated[None, DBusSignature("")]


class SystemdManager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.systemd1.Manager")
        self.calls: list[tuple[float, str, tuple[Any, ...]]] = []
        self.unit_of_pid: dict[int, str] = {}

    @method()
    def StartTransientUnit(
        self, name: DBusStr, mode: DBusStr, properties: Properties, aux: Auxiliary
    ) -> DBusObjectPath:
        values = {key: variant.value for key, variant in properties}
        self.calls.append((time.time(), "StartTransientUnit", (name, mode, values, aux)))
        for pid in values.get("PIDs", []):
            self.unit_of_pid[pid] = name
        return "/org/freedesktop/systemd1/job/1"

    @method()
    def SetUnitProperties(
        self, name: DBusStr, runtime: DBusBool, properties: Properties
    ) -> NoValue:
        values = {key: variant.value for key, variant in properties}
        self.calls.append((time.time(), "SetUnitProperties", (name, runtime, values)))

    @method()
    def GetUnitByPID(self, pid: DBusUInt32) -> DBusObjectPath:
        unit = self.unit_of_pid.get(pid)
        if unit is None:
            raise DBusError(
                "org.freedesktop.systemd1.NoUnitForPID",
                f"PID {pid} does not belong to any loaded unit.",
            )
        return f"/org/freedesktop/systemd1/unit/{encode_unit_path(unit)}"
