"""Properties declared once, and PropertiesChanged emitted for what changed, once.

In the spirit of anaconda's `watch_property` and `PropertiesChanged` helpers (dasbus): the bus
adapter does not spell out which property changed. A `StatusInterface` declares its read-only
properties in one table, property name -> `Shown(field, signature)`; the getters are made from
it, and `status_changed()` (a listener of the logic's status object) compares each property's
value with the one last emitted and sends the differences in one signal. Enum values go out as
strings.

`PropertyWatch` is the part without the table: any interface whose property values come from
one function (a dict the adapter keeps, an observable object) emits its changes through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property

from .interface import Interface


def bus_value(value: object) -> object:
    """The value as the bus shows it: an enum as its string."""
    return str(value) if isinstance(value, Enum) else value


class PropertyWatch:
    """Emits PropertiesChanged for the values of `read()` (property name -> value) that differ
    from the ones last emitted (at first: the ones read when the watch was made)."""

    def __init__(self, interface: ServiceInterface, read: Callable[[], Mapping[str, Any]]) -> None:
        self._interface = interface
        self._read = read
        self._shown = dict(read())

    def refresh(self, *_: object) -> None:
        """Emit what changed; takes and ignores any arguments, so it can be any listener."""
        values = self._read()
        changed = {name: value for name, value in values.items() if self._shown.get(name) != value}
        if changed:
            self._shown.update(changed)
            self._interface.emit_properties_changed(changed)


@dataclass(frozen=True)
class Shown:
    """A read-only property showing one field of the status object, with its D-Bus type."""

    field: str
    signature: str
    # False for a value that moves all the time (wire's LastContact): a signal on every move
    # would cost every listener for nothing, so it is read when needed.
    announced: bool = True


def _getter(name: str, shown: Shown) -> Any:
    def getter(self: StatusInterface) -> Any:
        return bus_value(getattr(self.current_status(), shown.field))

    getter.__name__ = name
    # dbus-fast reads the property's type from the return annotation (a signature string).
    getter.__annotations__ = {"return": shown.signature}
    return dbus_property(access=PropertyAccess.READ, name=name)(getter)


class StatusInterface(Interface):
    """An interface whose properties show fields of one status object (see the module doc).

    Subclasses set SHOWN and pass a function returning the current status; the logic calls
    `status_changed` (with any arguments) after each change of it.
    """

    SHOWN: ClassVar[Mapping[str, Shown]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, shown in cls.__dict__.get("SHOWN", {}).items():
            setattr(cls, name, _getter(name, shown))

    def __init__(self, status: Callable[[], object]) -> None:
        super().__init__()
        self.current_status = status
        self._watch = PropertyWatch(self, self.announced_values)

    def announced_values(self) -> dict[str, Any]:
        status = self.current_status()
        return {
            name: bus_value(getattr(status, s.field))
            for name, s in self.SHOWN.items()
            if s.announced
        }

    def status_changed(self, *_: object) -> None:
        self._watch.refresh()
