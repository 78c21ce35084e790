"""org.waagent.Disk1: the D-Bus adapter of diskd (the only module of the service using dbus_fast).

Methods wait for their job: Activate returns once the disk is mounted and the swap made (or
with the error that stopped it); meanwhile State shows each step through PropertiesChanged.
"""

from __future__ import annotations

from typing import Annotated

from dbus_fast.annotations import DBusBool, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_property

from ..common.bus import ROOT_ONLY, Interface, bus_method, polkit_action
from ..common.errors import InvalidArgs
from ..common.names import ACTION_MANAGE_SWAP, DISK
from .models import DiskStatus
from .service import DiskService

# A method that replies with no value (dbus-fast reads a plain `None` annotation as no signature).
NoValue = Annotated[None, DBusSignature("")]

# The largest swap file SetSwap accepts (4 TiB): a bound checked before asking polkit.
MAX_SWAP_MB = 4 << 20

# DiskStatus field -> D-Bus property.
PROPERTIES = {
    "device": "Device",
    "mount_point": "MountPoint",
    "filesystem": "Filesystem",
    "mounted": "Mounted",
    "swap_enabled": "SwapEnabled",
    "swap_size_mb": "SwapSizeMB",
    "state": "State",
    "last_error": "LastError",
}


def _check_swap_size(self: DiskInterface, size_mb: int) -> None:
    if size_mb > MAX_SWAP_MB:
        raise InvalidArgs(f"invalid swap size {size_mb} MiB: at most {MAX_SWAP_MB} MiB")


class DiskInterface(Interface):
    NAME = DISK.interface

    def __init__(self, service: DiskService) -> None:
        super().__init__()
        self._service = service
        service.listeners.append(self._changed)

    @property
    def _status(self) -> DiskStatus:
        return self._service.status

    def _changed(self, old: DiskStatus, new: DiskStatus) -> None:
        self.emit_status_changes(old, new, PROPERTIES)

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusStr:
        return self._status.device

    @dbus_property(access=PropertyAccess.READ)
    def MountPoint(self) -> DBusStr:
        return self._status.mount_point

    @dbus_property(access=PropertyAccess.READ)
    def Filesystem(self) -> DBusStr:
        return self._status.filesystem

    @dbus_property(access=PropertyAccess.READ)
    def Mounted(self) -> DBusBool:
        return self._status.mounted

    @dbus_property(access=PropertyAccess.READ)
    def SwapEnabled(self) -> DBusBool:
        return self._status.swap_enabled

    @dbus_property(access=PropertyAccess.READ)
    def SwapSizeMB(self) -> DBusUInt32:
        return self._status.swap_size_mb

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return str(self._status.state)

    @dbus_property(access=PropertyAccess.READ)
    def LastError(self) -> DBusStr:
        return self._status.last_error

    @bus_method(auth=ROOT_ONLY)
    async def Activate(self) -> NoValue:
        await self._service.activate()

    @bus_method(auth=polkit_action(ACTION_MANAGE_SWAP), validate=_check_swap_size)
    async def SetSwap(self, size_mb: DBusUInt32) -> NoValue:
        await self._service.set_swap(size_mb)
