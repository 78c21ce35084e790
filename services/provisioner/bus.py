"""org.waagent.Provisioner1, and the provisioner's clients of other services on the bus.

The only module of the service that uses dbus_fast. Each method: validate, authorize (the
dispatcher; Deprovision's polkit action depends on delete_user), one call into `Provisioner`.
The clients implement `peers.Units` and `hostname.HostnameService` (wire's is
`common/clients/wire.py`); a service
that is not on the bus is reported as absent, so the logic can fall back.
"""

# No `from __future__ import annotations` here: dbus-fast reads the signatures from the
# annotations at import time.
import logging
from collections.abc import Sequence
from typing import Annotated, Any

from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusSignature, DBusStr, DBusUInt64
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_property

from ..common.bus import PUBLIC, ROOT_ONLY, Interface, bus_method, polkit_action_by
from ..common.bus.client import ServiceUnavailable, call
from ..common.errors import WaagentError
from ..common.names import (
    ACTION_DEPROVISION,
    ACTION_DEPROVISION_USER,
    PROVISIONER,
    BusName,
)
from .flow import Provisioner
from .models import Status

log = logging.getLogger(__name__)

NoValue = Annotated[None, DBusSignature("")]
DBusStrList = Annotated[list[str], DBusSignature("as")]

# Status field -> D-Bus property.
PROPERTIES = {
    "state": "State",
    "failure_reason": "FailureReason",
    "user": "ProvisionedUser",
    "source": "Source",
    "last_run": "LastRun",
}


def deprovision_action(delete_user: bool) -> str:
    return ACTION_DEPROVISION_USER if delete_user else ACTION_DEPROVISION


class ProvisionerInterface(Interface):
    NAME = PROVISIONER.interface

    def __init__(self, provisioner: Provisioner) -> None:
        super().__init__()
        self._provisioner = provisioner
        provisioner.listeners.append(self._changed)

    @property
    def _status(self) -> Status:
        return self._provisioner.status

    def _changed(self, old: Status, new: Status) -> None:
        self.emit_status_changes(old, new, PROPERTIES)

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return str(self._status.state)

    @dbus_property(access=PropertyAccess.READ)
    def FailureReason(self) -> DBusStr:
        return self._status.failure_reason

    @dbus_property(access=PropertyAccess.READ)
    def ProvisionedUser(self) -> DBusStr:
        return self._status.user

    @dbus_property(access=PropertyAccess.READ)
    def Source(self) -> DBusStr:
        return self._status.source

    @dbus_property(access=PropertyAccess.READ)
    def LastRun(self) -> DBusUInt64:
        return self._status.last_run

    @bus_method(auth=ROOT_ONLY)
    async def Provision(self) -> NoValue:
        await self._provisioner.provision()

    @bus_method(auth=PUBLIC)
    def PlanDeprovision(self, delete_user: DBusBool) -> DBusStrList:
        return self._provisioner.plan_deprovision(delete_user)

    @bus_method(auth=polkit_action_by(deprovision_action))
    async def Deprovision(self, delete_user: DBusBool) -> NoValue:
        await self._provisioner.deprovision(delete_user)


# ---- clients ----

HOSTNAME1 = BusName("org.freedesktop.hostname1")
SYSTEMD1 = BusName("org.freedesktop.systemd1")
SYSTEMD_MANAGER = "org.freedesktop.systemd1.Manager"


class HostnameClient:
    """hostname.HostnameService through org.freedesktop.hostname1."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def set_hostname(self, name: str) -> bool:
        try:
            await call(self.bus, HOSTNAME1, "SetStaticHostname", "sb", [name, False])
        except ServiceUnavailable:
            return False
        await call(self.bus, HOSTNAME1, "SetHostname", "sb", [name, False])
        return True


class UnitsClient:
    """peers.Units through org.freedesktop.systemd1."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def _manager(self, member: str, signature: str, body: Sequence[Any]) -> Any:
        reply = await call(self.bus, SYSTEMD1, member, signature, body, interface=SYSTEMD_MANAGER)
        return reply.body[0]

    async def try_restart(self, candidates: Sequence[str]) -> str | bool:
        for unit in candidates:
            try:
                await self._manager("TryReloadOrRestartUnit", "ss", [unit, "ignore-dependencies"])
            except ServiceUnavailable:
                return False
            except WaagentError as exc:
                log.debug("%s: %s", unit, exc.message)
                continue
            log.info("asked systemd to reload or restart %s", unit)
            return unit
        log.warning("none of %s could be restarted", ", ".join(candidates))
        return ""

    async def stop(self, unit: str) -> bool:
        try:
            await self._manager("StopUnit", "ss", [unit, "replace"])
        except ServiceUnavailable:
            return False
        except WaagentError as exc:
            log.info("not stopping %s: %s", unit, exc.message)
        return True

    async def enabled(self, unit: str) -> bool | None:
        try:
            return bool(await self._manager("GetUnitFileState", "s", [unit]) == "enabled")
        except ServiceUnavailable:
            return None
        except WaagentError:
            return False
