"""org.waagent.Wire1: the D-Bus adapter of the wire service (its only module using dbus_fast)."""

from __future__ import annotations

from dbus_fast.annotations import DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_property

from ..common.bus import PUBLIC, Interface, bus_method
from ..common.names import WIRE


class WireInterface(Interface):
    NAME = WIRE.interface

    def __init__(self, version: str) -> None:
        super().__init__()
        self._version = version
        self._state = "Idle"

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return self._version

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return self._state

    @bus_method(auth=PUBLIC)
    def Ping(self) -> DBusStr:
        return "pong"
