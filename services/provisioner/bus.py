"""org.waagent.Provisioner1, and the provisioner's clients of other services on the bus.

The only module of the service that uses dbus_fast. Each method: validate, authorize (the
dispatcher; Deprovision's polkit action depends on delete_user), one call into `Provisioner`.
The client implements `peers.Wire` (systemd's and hostnamed's are in common/clients).
"""

# No `from __future__ import annotations` here: dbus-fast reads the signatures from the
# annotations at import time.
import logging
from collections.abc import Mapping
from typing import Annotated, ClassVar

from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusSignature
from pydantic import TypeAdapter, ValidationError

from ..common.bus import PUBLIC, ROOT_ONLY, bus_method, polkit_action_by
from ..common.bus.client import call
from ..common.bus.properties import Shown, StatusInterface
from ..common.errors import FabricUnavailable
from ..common.models.goal_state import Certificate
from ..common.names import (
    ACTION_DEPROVISION,
    ACTION_DEPROVISION_USER,
    PROVISIONER,
    WIRE,
)
from .flow import Provisioner

log = logging.getLogger(__name__)

NoValue = Annotated[None, DBusSignature("")]
DBusStrList = Annotated[list[str], DBusSignature("as")]


def deprovision_action(delete_user: bool) -> str:
    return ACTION_DEPROVISION_USER if delete_user else ACTION_DEPROVISION


class ProvisionerInterface(StatusInterface):
    NAME = PROVISIONER.interface
    # D-Bus property -> Status field.
    SHOWN: ClassVar[Mapping[str, Shown]] = {
        "State": Shown("state", "s"),
        "FailureReason": Shown("failure_reason", "s"),
        "ProvisionedUser": Shown("user", "s"),
        "Source": Shown("source", "s"),
        "LastRun": Shown("last_run", "t"),
    }

    def __init__(self, provisioner: Provisioner) -> None:
        super().__init__(lambda: provisioner.status)
        self._provisioner = provisioner
        provisioner.listeners.append(self.status_changed)

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
