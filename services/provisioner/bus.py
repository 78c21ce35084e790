"""org.waagent.Provisioner1, and the provisioner's clients of other services on the bus.

The only module of the service that uses dbus_fast. Each method: validate, authorize (the
dispatcher; Deprovision's polkit action depends on delete_user), one call into `Provisioner`.
The client implements `peers.Wire` (systemd's and hostnamed's are in common/clients).
"""

# No `from __future__ import annotations` here: dbus-fast reads the signatures from the
# annotations at import time.
import logging
from typing import Annotated

from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusSignature, DBusStr, DBusUInt64
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_property
from pydantic import TypeAdapter, ValidationError

from ..common.bus import PUBLIC, ROOT_ONLY, Interface, bus_method, polkit_action_by
from ..common.bus.client import call
from ..common.errors import FabricUnavailable
from ..common.models.goal_state import Certificate
from ..common.names import (
    ACTION_DEPROVISION,
    ACTION_DEPROVISION_USER,
    PROVISIONER,
    WIRE,
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

# Wire retries a health report for up to 5 minutes when the fabric is slow.
HEALTH_TIMEOUT = 330.0
WIRE_TIMEOUT = 60.0
_CERTIFICATES = TypeAdapter(list[Certificate])


class WireClient:
    """peers.Wire over the bus (bus-activating wire when needed)."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def report_health(self, state: str, substatus: str, description: str) -> None:
        await call(
            self.bus,
            WIRE,
            "ReportHealth",
            "sss",
            [state, substatus, description],
            timeout=HEALTH_TIMEOUT,
        )

    async def certificates(self) -> list[Certificate]:
        reply = await call(self.bus, WIRE, "GetCertificates", timeout=WIRE_TIMEOUT)
        try:
            return _CERTIFICATES.validate_json(reply.body[0])
        except ValidationError:
            raise FabricUnavailable("wire sent certificates that cannot be read") from None

    async def refresh(self) -> None:
        await call(self.bus, WIRE, "Refresh", timeout=WIRE_TIMEOUT)

    async def instance_metadata(self) -> str:
        reply = await call(self.bus, WIRE, "GetInstanceMetadata", timeout=WIRE_TIMEOUT)
        return str(reply.body[0])
