"""common/bus/properties.py: properties declared once, changes emitted once (no bus needed)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from waagent.common.bus.properties import PropertyWatch, Shown, StatusInterface
from waagent.common.jobs import StatusHolder


class Phase(StrEnum):
    IDLE = "Idle"
    BUSY = "Busy"


class Sample(BaseModel):
    model_config = ConfigDict(frozen=True)
    phase: Phase = Phase.IDLE
    size: int = 0
    note: str = ""
    ticks: int = 0


class SampleInterface(StatusInterface):
    NAME = "org.waagent.Test1"
    SHOWN: ClassVar[Mapping[str, Shown]] = {
        "Phase": Shown("phase", "s"),
        "SizeMB": Shown("size", "u"),
        "Note": Shown("note", "s"),
        "Ticks": Shown("ticks", "t", announced=False),
    }

    def __init__(self, holder: StatusHolder[Sample]) -> None:
        super().__init__(lambda: holder.status)
        holder.listeners.append(self.status_changed)
        self.emitted: list[dict[str, Any]] = []

    def emit_properties_changed(
        self, changed_properties: dict[str, Any], invalidated_properties: list[str] | None = None
    ) -> None:
        self.emitted.append(changed_properties)


def make() -> tuple[StatusHolder[Sample], SampleInterface]:
    holder = StatusHolder(Sample())
    return holder, SampleInterface(holder)


def test_only_the_changed_properties_are_emitted_with_their_bus_names() -> None:
    holder, interface = make()
    holder._update(size=512)
    assert interface.emitted == [{"SizeMB": 512}]


def test_an_enum_goes_out_as_its_string() -> None:
    holder, interface = make()
    holder._update(phase=Phase.BUSY, note="formatting")
    assert interface.emitted == [{"Phase": "Busy", "Note": "formatting"}]
    assert type(interface.emitted[0]["Phase"]) is str


def test_a_change_is_emitted_once() -> None:
    holder, interface = make()
    holder._update(size=1)
    interface.status_changed()  # a second notification of the same change
    holder._update(size=1)
    assert interface.emitted == [{"SizeMB": 1}]


def test_a_value_changed_and_changed_back_before_a_notification_is_not_emitted() -> None:
    holder, interface = make()
    holder.status = Sample(size=5)
    holder.status = Sample()
    interface.status_changed()
    assert interface.emitted == []


def test_the_getters_are_made_from_the_declaration() -> None:
    holder, interface = make()
    holder._update(phase=Phase.BUSY, size=7)
    assert interface.announced_values() == {"Phase": "Busy", "SizeMB": 7, "Note": ""}
    assert (interface.Phase, interface.SizeMB, interface.Ticks) == ("Busy", 7, 0)
    introspected = SampleInterface.describe().properties
    props = {p.name: (p.signature, p.access.value) for p in introspected}
    assert props == {
        "Phase": ("s", "read"),
        "SizeMB": ("u", "read"),
        "Note": ("s", "read"),
        "Ticks": ("t", "read"),
    }


def test_a_property_not_announced_is_read_but_never_emitted() -> None:
    holder, interface = make()
    holder._update(ticks=5)
    holder._update(ticks=6, size=1)
    assert interface.emitted == [{"SizeMB": 1}]
    assert interface.Ticks == 6


def test_a_watch_of_plain_values_emits_what_differs_from_what_it_last_emitted() -> None:
    values = {"Name": "a", "State": "enabled"}
    emitted: list[dict[str, Any]] = []

    class Recorder(StatusInterface):
        NAME = "org.waagent.Test2"

        def emit_properties_changed(
            self,
            changed_properties: dict[str, Any],
            invalidated_properties: list[str] | None = None,
        ) -> None:
            emitted.append(changed_properties)

    watch = PropertyWatch(Recorder(lambda: None), lambda: values)
    values = {"Name": "a", "State": "disabled"}
    watch.refresh()
    watch.refresh()
    values = {"Name": "b", "State": "disabled"}
    watch.refresh("ignored", "arguments")
    assert emitted == [{"State": "disabled"}, {"Name": "b"}]
