"""org.waagent.Provisioner1: the D-Bus adapter of the provisioner.

The only module of the service that uses dbus_fast. Each method: validate, authorize (the
dispatcher; Deprovision's polkit action depends on delete_user), one call into `Provisioner`.
Its clients of wire, systemd and hostnamed are in `common/clients/`.
"""

# No `from __future__ import annotations` here: dbus-fast reads the signatures from the
# annotations at import time.
import logging
from collections.abc import Mapping
from typing import Annotated, ClassVar

from dbus_fast.annotations import DBusBool, DBusSignature, DBusStr
from pydantic import ValidationError

from ..common.bus import PUBLIC, ROOT_ONLY, Auth, bus_method, polkit_action, polkit_action_by
from ..common.bus.interface import parsed
from ..common.bus.properties import Shown, StatusInterface
from ..common.errors import InvalidArgs
from ..common.models.remote_access import RemoteAccessUpdate
from ..common.names import (
    ACTION_DEPROVISION,
    ACTION_DEPROVISION_USER,
    ACTION_SERIAL_CONSOLE,
    PROVISIONER,
    WIRE_USER,
)
from .flow import Provisioner

log = logging.getLogger(__name__)

NoValue = Annotated[None, DBusSignature("")]
DBusStrList = Annotated[list[str], DBusSignature("as")]
BootReply = Annotated[list[object], DBusSignature("assss")]


# Wire hands over the JIT users (root too, by hand); the bus policy says the same.
WIRE_ONLY = Auth(users=(WIRE_USER,))


def deprovision_action(delete_user: bool) -> str:
    return ACTION_DEPROVISION_USER if delete_user else ACTION_DEPROVISION


def _parse_remote_access(self: "ProvisionerInterface", text: str) -> tuple[RemoteAccessUpdate]:
    try:
        return (RemoteAccessUpdate.model_validate_json(text),)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise InvalidArgs(f"invalid remote access update: {where}: {error['msg']}") from None


class ProvisionerInterface(StatusInterface):
    NAME = PROVISIONER.interface
    # D-Bus property -> Status field.
    SHOWN: ClassVar[Mapping[str, Shown]] = {
        "State": Shown("state", "s"),
        "FailureReason": Shown("failure_reason", "s"),
        "ProvisionedUser": Shown("user", "s"),
        "Source": Shown("source", "s"),
        "LastRun": Shown("last_run", "t"),
        "RemoteAccessUsers": Shown("remote_access_users", "a{ss}"),
        "RemoteAccessError": Shown("remote_access_error", "s"),
    }

    def __init__(self, provisioner: Provisioner) -> None:
        super().__init__(lambda: provisioner.status)
        self._provisioner = provisioner
        provisioner.listeners.append(self.status_changed)

    @bus_method(auth=ROOT_ONLY)
    async def Provision(self) -> NoValue:
        await self._provisioner.provision()

    @bus_method(auth=WIRE_ONLY, validate=_parse_remote_access)
    def ApplyRemoteAccess(self, update: DBusStr) -> NoValue:
        self._provisioner.apply_remote_access(parsed(update, RemoteAccessUpdate))

    @bus_method(auth=WIRE_ONLY)
    async def KeepHostname(self) -> DBusStr:
        return await self._provisioner.keep_hostname()

    @bus_method(auth=PUBLIC)
    def PlanDeprovision(self, delete_user: DBusBool) -> DBusStrList:
        return self._provisioner.plan_deprovision(delete_user)

    @bus_method(auth=polkit_action_by(deprovision_action))
    async def Deprovision(self, delete_user: DBusBool) -> NoValue:
        await self._provisioner.deprovision(delete_user)

    @bus_method(auth=polkit_action(ACTION_SERIAL_CONSOLE))
    async def ConfigureSerialConsole(self, enable: DBusBool, dry_run: DBusBool) -> BootReply:
        result = await self._provisioner.parts.boot.serial_console(enable, dry_run)
        return [list(result.changed), result.diff, result.regeneration, result.message]
