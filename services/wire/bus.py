"""org.waagent.Wire1: the D-Bus adapter of the wire service (its only module using dbus_fast).

Each method: validate (which parses JSON arguments into the shared models, once), authorize (the
dispatcher), one call into `Wire`, reply. Documents cross the bus as JSON of the shared models;
downloads as read-only file descriptors.
"""

# No `from __future__ import annotations` here: dbus-fast reads the signatures from the
# annotations at import time, and `-> None` must stay the None object.
import logging
from collections.abc import Mapping
from typing import Annotated, ClassVar

from dbus_fast.annotations import DBusSignature, DBusStr, DBusUInt64, DBusUnixFd
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_property, dbus_signal
from pydantic import ValidationError

from .. import __version__
from ..common.bus import (
    PUBLIC,
    ROOT_ONLY,
    Auth,
    bus_method,
    current_caller,
    polkit_action,
)
from ..common.bus.interface import parsed
from ..common.bus.properties import Shown, StatusInterface
from ..common.clients.wire import CERTIFICATES, NO_GOAL_STATE
from ..common.errors import InvalidArgs
from ..common.models.download import DOWNLOAD_KINDS
from ..common.models.events import TelemetryBatch
from ..common.models.status import ExtensionsStatus
from ..common.names import ACTION_COLLECT_LOGS, WIRE, WIRE_USER
from .agent import Wire

log = logging.getLogger(__name__)

HEALTH_STATES = ("Ready", "NotReady")
HEALTH_SUBSTATUSES = ("", "Provisioning", "ProvisioningFailed")
DBusStrList = Annotated[list[str], DBusSignature("as")]
# Members only services call: root, and wire itself (defence in depth, with the bus policy).
SERVICES_ONLY = Auth(users=(WIRE_USER,))


def _check_health(self: "WireInterface", state: str, substatus: str, description: str) -> None:
    if state not in HEALTH_STATES:
        raise InvalidArgs(f"invalid health state {state!r}: expected Ready or NotReady")
    if substatus not in HEALTH_SUBSTATUSES:
        raise InvalidArgs(
            f"invalid substatus {substatus!r}: expected '', Provisioning or ProvisioningFailed"
        )
    if substatus and state != "NotReady":
        raise InvalidArgs("a substatus goes with the NotReady state")


def _check_reason(self: "WireInterface", reason: str) -> None:
    if len(reason) > 512:
        raise InvalidArgs("the reason is longer than 512 characters")


def _parse_status(self: "WireInterface", text: str) -> tuple[ExtensionsStatus]:
    try:
        return (ExtensionsStatus.model_validate_json(text),)
    except ValidationError as exc:
        raise InvalidArgs(f"invalid extensions status: {exc.errors()[0]['msg']}") from None


def _parse_events(self: "WireInterface", text: str) -> tuple[TelemetryBatch]:
    try:
        return (TelemetryBatch.model_validate_json(text),)
    except ValidationError as exc:
        raise InvalidArgs(f"invalid events: {exc.errors()[0]['msg']}") from None


def _check_download(self: "WireInterface", uris: list[str], kind: str) -> None:
    if kind not in DOWNLOAD_KINDS:
        raise InvalidArgs(f"invalid kind {kind!r}: expected one of {', '.join(DOWNLOAD_KINDS)}")
    if not uris:
        raise InvalidArgs("no URI given")
    for uri in uris:
        if not uri.startswith(("http://", "https://")):
            raise InvalidArgs(f"invalid URI {uri[:80]!r}: only http and https")


class WireInterface(StatusInterface):
    NAME = WIRE.interface
    # D-Bus property -> field of wire's Observable.
    SHOWN: ClassVar[Mapping[str, Shown]] = {
        "Endpoint": Shown("endpoint", "s"),
        "Incarnation": Shown("incarnation", "s"),
        "ContainerId": Shown("container_id", "s"),
        "RoleInstanceId": Shown("role_instance_id", "s"),
        # Moves on every poll: not announced, read when needed.
        "LastContact": Shown("last_contact", "t", announced=False),
        "State": Shown("state", "s"),
        "LastError": Shown("last_error", "s"),
        "ExtensionsChannel": Shown("extensions_channel", "s"),
        "FastTrack": Shown("fast_track", "s"),
    }

    def __init__(self, wire: Wire) -> None:
        super().__init__(lambda: wire.observable)
        self.wire = wire

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return __version__

    @dbus_signal()
    def GoalStateChanged(
        self, incarnation: str, extensions_goal_state_id: str
    ) -> Annotated[tuple[str, str], DBusSignature("ss")]:
        return incarnation, extensions_goal_state_id

    @bus_method(auth=PUBLIC)
    def Ping(self) -> DBusStr:
        return "pong"

    @bus_method(auth=PUBLIC)
    def GetGoalState(self) -> DBusStr:
        summary = self.wire.goal_state.summary
        return NO_GOAL_STATE if summary is None else summary.model_dump_json()

    @bus_method(auth=PUBLIC)
    def GetExtensionsGoalState(self) -> DBusStr:
        """Root and wire see everything; anyone else handlers, versions, states and sequence
        numbers only (settings and URLs carry SAS tokens)."""
        goal_state = self.wire.goal_state.extensions
        if goal_state is None:
            return NO_GOAL_STATE
        caller = current_caller()
        trusted = caller is not None and (caller.is_root or caller.user == WIRE_USER)
        return (goal_state if trusted else goal_state.public()).model_dump_json()

    @bus_method(auth=PUBLIC)
    async def GetInstanceMetadata(self) -> DBusStr:
        return await self.wire.instance_metadata()

    @bus_method(auth=SERVICES_ONLY)
    def GetCertificates(self) -> DBusStr:
        return CERTIFICATES.dump_json(self.wire.goal_state.certificates).decode()

    @bus_method(auth=SERVICES_ONLY)
    def GetSharedConfig(self) -> DBusStr:
        return self.wire.goal_state.shared_config()

    @bus_method(auth=SERVICES_ONLY)
    def GetHandover(self) -> DBusStr:
        """What ProcessGoalState hands extd, for an extd that resumes a goal state on its own."""
        handover = self.wire.handover()
        return NO_GOAL_STATE if handover is None else handover.model_dump_json()

    @bus_method(auth=ROOT_ONLY, validate=_check_health)
    async def ReportHealth(self, state: DBusStr, substatus: DBusStr, description: DBusStr) -> None:
        await self.wire.report_health(state, substatus, description)

    @bus_method(auth=SERVICES_ONLY, validate=_parse_status)
    async def UploadStatus(self, status: DBusStr) -> None:
        await self.wire.set_extensions_status(parsed(status, ExtensionsStatus))

    @bus_method(auth=SERVICES_ONLY, validate=_parse_events)
    def SendEvents(self, events: DBusStr) -> None:
        self.wire.telemetry.send(parsed(events, TelemetryBatch).events)

    @bus_method(auth=SERVICES_ONLY, validate=_check_download)
    async def Download(self, uris: DBusStrList, kind: DBusStr) -> DBusUnixFd:
        return await self.wire.download(uris, kind)  # type: ignore[arg-type]  # _check_download

    @bus_method(auth=polkit_action(ACTION_COLLECT_LOGS))
    async def UploadLogs(self, bundle: DBusUnixFd) -> DBusUInt64:
        return await self.wire.upload_logs(bundle)

    @bus_method(auth=SERVICES_ONLY, validate=_check_reason)
    def Poll(self, reason: DBusStr) -> DBusStr:
        """The resident poller saw work (a new goal state, a new vmSettings ETag, a duty only
        full wire does): poll now. Returns at once with the incarnation wire knows."""
        log.info("poll now: %s", reason)
        self.wire.wake()
        return self.wire.observable.incarnation

    @bus_method(auth=ROOT_ONLY)
    async def Refresh(self) -> DBusStr:
        await self.wire.refresh(force=True)
        self.wire.wake()
        return self.wire.observable.incarnation
