"""org.waagent.Disk1: the D-Bus adapter of diskd (the only module of the service using dbus_fast).

Methods wait for their job: Activate returns once the disk is mounted and the swap made (or
with the error that stopped it); meanwhile State shows each step through PropertiesChanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from dbus_fast.annotations import DBusSignature, DBusUInt32

from ..common.bus import ROOT_ONLY, bus_method, polkit_action
from ..common.bus.properties import Shown, StatusInterface
from ..common.errors import InvalidArgs
from ..common.names import ACTION_MANAGE_SWAP, DISK
from .service import DiskService

# A method that replies with no value (dbus-fast reads a plain `None` annotation as no signature).
NoValue = Annotated[None, DBusSignature("")]

# The largest swap file SetSwap accepts (4 TiB): a bound checked before asking polkit.
MAX_SWAP_MB = 4 << 20


def _check_swap_size(self: DiskInterface, size_mb: int) -> None:
    if size_mb > MAX_SWAP_MB:
        raise InvalidArgs(f"invalid swap size {size_mb} MiB: at most {MAX_SWAP_MB} MiB")


class DiskInterface(StatusInterface):
    NAME = DISK.interface
    # D-Bus property -> DiskStatus field.
    SHOWN: ClassVar[Mapping[str, Shown]] = {
        "Device": Shown("device", "s"),
        "MountPoint": Shown("mount_point", "s"),
        "Filesystem": Shown("filesystem", "s"),
        "Mounted": Shown("mounted", "b"),
        "SwapEnabled": Shown("swap_enabled", "b"),
        "SwapSizeMB": Shown("swap_size_mb", "u"),
        "State": Shown("state", "s"),
        "LastError": Shown("last_error", "s"),
    }

    def __init__(self, service: DiskService) -> None:
        super().__init__(lambda: service.status)
        self._service = service
        service.listeners.append(self.status_changed)

    @bus_method(auth=ROOT_ONLY)
    async def Activate(self) -> NoValue:
        await self._service.activate()

    @bus_method(auth=polkit_action(ACTION_MANAGE_SWAP), validate=_check_swap_size)
    async def SetSwap(self, size_mb: DBusUInt32) -> NoValue:
        await self._service.set_swap(size_mb)
