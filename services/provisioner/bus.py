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

from dbus_fast.annotations import DBusBool, DBusSignature

from ..common.bus import PUBLIC, ROOT_ONLY, bus_method, polkit_action_by
from ..common.bus.properties import Shown, StatusInterface
from ..common.names import (
    ACTION_DEPROVISION,
    ACTION_DEPROVISION_USER,
    PROVISIONER,
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
