"""org.waagent.Extensions1: the D-Bus adapter of extd (its only module using dbus_fast).

The root object takes ProcessGoalState from wire and serves the ObjectManager (dbus-fast
answers GetManagedObjects and emits InterfacesAdded/Removed for what is exported under it). Each
handler, and each extension of a multi-config handler, is an object under it with read-only
properties and Enable/Disable/Uninstall behind polkit. The client of wire is
`common/clients/wire.py`; the systemd side of running commands is `units.py`.
"""

# No `from __future__ import annotations` here: dbus-fast reads the signatures from the
# annotations at import time, and `-> None` must stay the None object.
import logging
from typing import Annotated, Any

from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import dbus_property
from pydantic import ValidationError

from ..common.bus import (
    PUBLIC,
    Auth,
    Interface,
    ServiceContext,
    bus_method,
    current_caller,
    polkit_action,
)
from ..common.bus.interface import parsed
from ..common.bus.properties import PropertyWatch
from ..common.errors import InvalidArgs
from ..common.models.handover import Handover
from ..common.names import ACTION_MANAGE_EXTENSIONS, EXTENSIONS, WIRE_USER
from .aggregate_status import Entry, without_messages
from .service import ExtensionsService

log = logging.getLogger(__name__)

NoValue = Annotated[None, DBusSignature("")]
EXTENSION_INTERFACE = f"{EXTENSIONS.interface}.Extension"
WIRE_ONLY = Auth(users=(WIRE_USER,))
MANAGE = polkit_action(ACTION_MANAGE_EXTENSIONS)


def encode_path_element(name: str) -> str:
    """A handler or extension name as an object path element (systemd's `_xx` escaping)."""
    return "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):02x}" for c in name) or "_"


def object_path(handler: str, extension: str | None = None) -> str:
    path = f"{EXTENSIONS.path}/{encode_path_element(handler)}"
    return f"{path}/{encode_path_element(extension)}" if extension else path


# ---- the objects ------------------------------------------------------------------------------


class ObjectValues:
    """The property values of one object, from the report's entries."""

    def __init__(self, entry: Entry, extension_object: bool) -> None:
        record = entry.record
        detail = entry.detail
        shown = (
            detail if detail is not None and (extension_object or not record.multi_config) else None
        )
        handler = entry.handler_status
        self.values: dict[str, Any] = {
            "Name": entry.extension.name if extension_object and entry.extension else record.name,
            "Handler": record.name,
            "Version": record.version,
            "State": (entry.extension_state or "disabled")
            if extension_object
            else entry.handler_state,
            "Status": shown.status if shown else handler.status,
            "Code": shown.code if shown else handler.code,
            "Message": (
                (shown.formatted_message.message if shown else None)
                or (handler.formatted_message.message if handler.formatted_message else None)
                or ""
            ),
            "SequenceNumber": entry.extension.seq_no if entry.extension and shown else -1,
            "LastOperation": record.last_operation,
        }


def _check_uninstall(obj: "ExtensionObject") -> None:
    """Checked before polkit: only a handler can be uninstalled, not one of its extensions."""
    if obj._extension is not None:
        raise InvalidArgs(
            f"{obj._extension} is one extension of {obj._handler}: uninstall the handler"
        )


class ExtensionObject(Interface):
    NAME = EXTENSION_INTERFACE

    def __init__(
        self,
        service: ExtensionsService,
        handler: str,
        extension: str | None,
        values: dict[str, Any],
    ) -> None:
        super().__init__()
        self._service = service
        self._handler = handler
        self._extension = extension
        self.values = dict(values)
        self._watch = PropertyWatch(self, self._announced)

    def _announced(self) -> dict[str, Any]:
        # Message is not a property (see GetMessage): never in a signal anyone may receive.
        return {name: value for name, value in self.values.items() if name != "Message"}

    def update(self, values: dict[str, Any]) -> None:
        self.values = dict(values)
        self._watch.refresh()

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return str(self.values.get("Name", ""))

    @dbus_property(access=PropertyAccess.READ)
    def Handler(self) -> DBusStr:
        return str(self.values.get("Handler", ""))

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return str(self.values.get("Version", ""))

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return str(self.values.get("State", ""))

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> DBusStr:
        return str(self.values.get("Status", ""))

    @dbus_property(access=PropertyAccess.READ)
    def Code(self) -> DBusInt32:
        return int(self.values.get("Code", 0))

    @dbus_property(access=PropertyAccess.READ)
    def SequenceNumber(self) -> DBusInt32:
        return int(self.values.get("SequenceNumber", -1))

    @dbus_property(access=PropertyAccess.READ)
    def LastOperation(self) -> DBusStr:
        return str(self.values.get("LastOperation", ""))

    @bus_method(auth=MANAGE)
    def GetMessage(self) -> DBusStr:
        # A method, not a property: extensions put command output and secrets in their
        # messages, and a property is readable by every local user.
        return str(self.values.get("Message", ""))

    @bus_method(auth=MANAGE)
    async def Enable(self) -> NoValue:
        await self._service.enable(self._handler, self._extension)

    @bus_method(auth=MANAGE)
    async def Disable(self) -> NoValue:
        await self._service.disable(self._handler, self._extension)

    @bus_method(auth=MANAGE, validate=_check_uninstall)
    async def Uninstall(self) -> NoValue:
        await self._service.uninstall(self._handler)


def _parse_handover(self: "ExtensionsInterface", text: str) -> tuple[Handover]:
    try:
        return (Handover.model_validate_json(text),)
    except ValidationError as exc:
        # The message names the field, never its value (the hand-over holds private keys).
        raise InvalidArgs(f"invalid hand-over: {exc.errors()[0]['msg']}") from None


class ExtensionsInterface(Interface):
    NAME = EXTENSIONS.interface

    def __init__(self, service: ExtensionsService) -> None:
        super().__init__()
        self._service = service

    @dbus_property(access=PropertyAccess.READ)
    def GoalStateId(self) -> DBusStr:
        return self._service.records.state.goal_state_id

    @dbus_property(access=PropertyAccess.READ)
    def GoalStateStatus(self) -> DBusStr:
        state = self._service.records.state
        if state.goal_state_id and not state.completed:
            return "Processing"
        return state.outcome.status if state.outcome else ""

    @bus_method(auth=WIRE_ONLY, validate=_parse_handover)
    async def ProcessGoalState(self, handover: DBusStr) -> NoValue:
        await self._service.accept_goal_state(parsed(handover, Handover))

    @bus_method(auth=PUBLIC)
    def GetStatus(self) -> DBusStr:
        report = self._service.current_report()
        caller = current_caller()
        if caller is None or not caller.is_root:
            report = without_messages(report)
        return report.model_dump_json(by_alias=True)


class Objects:
    """Keeps one exported object per handler and per multi-config extension, in step with the
    report: new ones are exported, gone ones unexported, changes emitted."""

    def __init__(
        self, ctx: ServiceContext, service: ExtensionsService, root: ExtensionsInterface
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.root = root
        self.exported: dict[str, ExtensionObject] = {}
        self._root_watch = PropertyWatch(
            root, lambda: {"GoalStateId": root.GoalStateId, "GoalStateStatus": root.GoalStateStatus}
        )

    def __call__(self, entries: list[Entry]) -> None:
        wanted: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
        for entry in entries:
            record = entry.record
            if record.multi_config:
                wanted.setdefault(
                    object_path(record.name),
                    (record.name, None, ObjectValues(entry, False).values),
                )
                if entry.extension is not None:
                    wanted[object_path(record.name, entry.extension.name)] = (
                        record.name,
                        entry.extension.name,
                        ObjectValues(entry, True).values,
                    )
            else:
                wanted[object_path(record.name)] = (
                    record.name,
                    None,
                    ObjectValues(entry, False).values,
                )
        for path in [p for p in self.exported if p not in wanted]:
            self.ctx.unexport(path, self.exported.pop(path))
        for path, (handler, extension, values) in wanted.items():
            obj = self.exported.get(path)
            if obj is None:
                obj = ExtensionObject(self.service, handler, extension, values)
                self.exported[path] = obj
                self.ctx.export(path, obj)
            else:
                obj.update(values)
        self._root_watch.refresh()
