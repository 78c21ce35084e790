"""Fast Track in wire over a mock HostGAPlugin (§2.9, §4.3): what each answer of /vmSettings
does to the goal state, and what it costs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from waagent.common.config import AgentConfig
from waagent.common.models.events import TelemetryEvent
from waagent.wire.agent import Wire
from waagent.wire.fast_track import RECHECK_AFTER, REPORT_PERIOD, Support

from .fabric_mock import GOAL_STATE_URL, HOSTPLUGIN, MockFabric, history_entries, make_wire
from .vm_settings_doc import document

VM_SETTINGS = f"{HOSTPLUGIN}/vmSettings"
TICKS = 638000000000000000


class Plugin:
    """/vmSettings like the HostGAPlugin: an ETag per document, 304 for the current one."""

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.doc: dict[str, Any] | None = doc
        self.etag = 0
        self.asked: list[str | None] = []  # If-None-Match of each request

    def publish(self, **changes: Any) -> None:
        self.doc = document(**changes)
        self.etag += 1

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.headers.get("if-none-match"))
        if self.doc is None:
            return httpx.Response(404)
        if request.headers.get("if-none-match") == str(self.etag):
            return httpx.Response(304, headers={"ETag": str(self.etag)})
        return httpx.Response(200, json=self.doc, headers={"ETag": str(self.etag)})


def setup(
    tmp_path: Path, *, ticks: int = TICKS - 10, config: AgentConfig | None = None
) -> tuple[MockFabric, Plugin, Wire, list[int]]:
    fabric, plugin = MockFabric(), Plugin()
    fabric.serve_incarnation(1, created_on_ticks=ticks)
    fabric.serve("GET", VM_SETTINGS, plugin)
    told: list[int] = []
    wire = make_wire(tmp_path, fabric, on_extensions=lambda: told.append(1), config=config)
    return fabric, plugin, wire, told


def refresh(wire: Wire, times: int = 1) -> list[bool]:
    async def go() -> list[bool]:
        return [await wire.refresh() for _ in range(times)]

    return asyncio.run(go())


def current_id(wire: Wire) -> str:
    assert wire.goal_state.extensions is not None
    return wire.goal_state.extensions.id


def test_a_fast_track_change_alone_is_taken_and_a_304_storm_costs_nothing(tmp_path: Path) -> None:
    fabric, plugin, wire, told = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    # Its protected settings name a certificate this VM lacks: held for one more poll (§2.9).
    assert refresh(wire, 2) == [True, True] and len(told) == 1
    assert current_id(wire) == "etag_1" and wire.observable.extensions_channel == "HostGAPlugin"
    parses = history_entries(tmp_path)
    assert refresh(wire, 20) == [False] * 20
    assert plugin.asked == [None] + ["1"] * 21  # one request per poll, with the ETag
    assert history_entries(tmp_path) == parses  # no new folder, nothing written
    assert fabric.count("GET", f"{GOAL_STATE_URL}") == 22
    plugin.publish(extensionsLastModifiedTickCount=TICKS + 1, inSvdSeqNo=8)
    assert refresh(wire, 2) == [True, True]  # held one poll again
    extensions = wire.goal_state.extensions
    assert extensions is not None and (extensions.id, extensions.svd_seq_no) == ("etag_2", "8")
    assert extensions.incarnation == "1" and len(told) == 2
    (saved,) = [e for e in history_entries(tmp_path) if e.name.endswith("__1-2")]
    assert (saved / "VmSettings.json").exists()
    timestamp = json.loads((tmp_path / "state" / "fast_track.json").read_text())["timestamp"]
    assert timestamp.startswith("2022-")  # ticks of 638000000000000001


def test_a_newer_wire_server_goal_state_wins_on_a_new_incarnation(tmp_path: Path) -> None:
    fabric, plugin, wire, _ = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire)
    fabric.serve_incarnation(2, created_on_ticks=TICKS + 5)
    assert refresh(wire) == [True]
    assert current_id(wire) == "incarnation_2"
    assert wire.observable.extensions_channel == "WireServer"


def test_equal_timestamps_take_extensions_config(tmp_path: Path) -> None:
    fabric, plugin, wire, _ = setup(tmp_path)
    fabric.serve_incarnation(2, created_on_ticks=TICKS)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire)
    assert current_id(wire) == "incarnation_2"


def test_an_older_goal_state_does_not_replace_a_newer_one(tmp_path: Path) -> None:
    fabric, plugin, wire, told = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire)
    fabric.serve_incarnation(2, created_on_ticks=TICKS - 5)
    assert refresh(wire) == [True]  # the incarnation is committed...
    assert wire.observable.incarnation == "2"
    assert current_id(wire) == "etag_1" and len(told) == 1  # ...its extensions are not


def test_fabric_vm_settings_are_ignored(tmp_path: Path) -> None:
    _, plugin, wire, _ = setup(tmp_path)
    plugin.publish(extensionGoalStatesSource="Fabric", extensionsLastModifiedTickCount=TICKS)
    refresh(wire, 3)
    assert current_id(wire) == "incarnation_1"
    assert not (tmp_path / "state" / "fast_track.json").exists()


def test_a_410_refreshes_the_goal_state_and_retries_once(tmp_path: Path) -> None:
    fabric, plugin, wire, _ = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    fabric.serve("GET", VM_SETTINGS, httpx.Response(410), plugin)
    assert refresh(wire) == [True]
    assert current_id(wire) == "etag_1"
    assert fabric.count("GET", GOAL_STATE_URL) == 2  # the poll, then fresh container headers


def test_not_supported_is_not_asked_again_for_6_hours(tmp_path: Path) -> None:
    _, plugin, wire, _ = setup(tmp_path)
    now = [1000.0]
    wire.fast_track.clock = lambda: now[0]
    refresh(wire, 5)
    assert len(plugin.asked) == 1 and wire.fast_track.support == Support.NOT_SUPPORTED
    assert wire.observable.fast_track == "not-supported"
    now[0] += RECHECK_AFTER - 1
    refresh(wire)
    assert len(plugin.asked) == 1
    now[0] += 1
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire)
    assert len(plugin.asked) == 2 and current_id(wire) == "etag_1"


def test_an_old_plugin_is_not_supported(tmp_path: Path) -> None:
    _, plugin, wire, _ = setup(tmp_path)
    plugin.publish(hostGAPluginVersion="1.0.8.132", extensionsLastModifiedTickCount=TICKS)
    refresh(wire, 3)
    assert wire.fast_track.support == Support.NOT_SUPPORTED
    assert current_id(wire) == "incarnation_1" and len(plugin.asked) == 1
    assert all(f.key != "FastTrack" for f in wire.status.vm_status().supported_features)


def test_support_stopping_makes_an_older_extensions_config_outdated(tmp_path: Path) -> None:
    fabric, plugin, wire, told = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire)
    assert [f.key for f in wire.status.vm_status().supported_features] == [
        "MultipleExtensionsPerHandler",
        "FastTrack",
    ]
    plugin.doc = None  # 404 from now on: support stopped
    assert refresh(wire) == [True]
    assert wire.fast_track.support == Support.STOPPED
    assert current_id(wire) == "etag_1" and len(told) == 1  # incarnation 1 is older: not run
    fabric.serve_incarnation(2, created_on_ticks=TICKS + 1)
    refresh(wire)
    assert current_id(wire) == "incarnation_2" and len(told) == 2


def test_after_a_restart_an_extensions_config_older_than_fast_track_json_is_outdated(
    tmp_path: Path,
) -> None:
    fabric, plugin, wire, _ = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire)
    (tmp_path / "state" / "goal_state.json").unlink()  # nothing cached: only fast_track.json
    config = AgentConfig.model_validate({"Debug.EnableFastTrack": False})
    fabric.serve_incarnation(2, created_on_ticks=TICKS - 1)
    again = make_wire(tmp_path, fabric, config=config)
    refresh(again)
    assert current_id(again) == "incarnation_2"  # the first goal state: nothing to compare with
    fabric.serve_incarnation(3, created_on_ticks=TICKS - 1)
    refresh(again)
    assert current_id(again) == "incarnation_2"
    fabric.serve_incarnation(4, created_on_ticks=TICKS + 1)
    refresh(again)
    assert current_id(again) == "incarnation_4"


def test_disabled_fast_track_sends_no_vm_settings_request(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"Debug.EnableFastTrack": False})
    _, plugin, wire, _ = setup(tmp_path, config=config)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire, 3)
    assert plugin.asked == [] and current_id(wire) == "incarnation_1"
    assert wire.observable.fast_track == "disabled"


def test_an_invalid_document_keeps_the_previous_one_and_is_saved_once(tmp_path: Path) -> None:
    _, plugin, wire, _ = setup(tmp_path)
    plugin.publish(extensionsLastModifiedTickCount=TICKS)
    refresh(wire, 2)  # taken, then released after the certificate fetch one poll later
    bad = document(extensionsLastModifiedTickCount=TICKS + 1)
    bad["extensionGoalStates"][0]["state"] = "paused"
    plugin.doc, plugin.etag = bad, 2
    before = len(history_entries(tmp_path))
    refresh(wire, 3)
    assert current_id(wire) == "etag_1"
    saved = history_entries(tmp_path)
    assert len(saved) == before + 1 and saved[-1].name.endswith("-2")
    text = (saved[-1] / "VmSettings.json").read_text()
    assert "paused" in text and "MIIBsAYJ" not in text and "SECRETSIG" not in text


def _answers(*answers: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    pending = list(answers)
    return lambda request: pending.pop(0) if len(pending) > 1 else pending[0]


def test_errors_are_counted_and_the_first_three_an_hour_reported(tmp_path: Path) -> None:
    fabric, _, wire, _ = setup(tmp_path)
    events: list[TelemetryEvent] = []
    now = [0.0]
    wire.fast_track.clock = lambda: now[0]
    wire.fast_track.counters.since = 0.0
    wire.fast_track.report = events.append
    no_etag = httpx.Response(200, json=document())
    fabric.serve("GET", VM_SETTINGS, _answers(httpx.Response(502), httpx.Response(400), no_etag))
    refresh(wire, 5)
    assert current_id(wire) == "incarnation_1"
    messages = [e.parameters["Message"] for e in events]
    assert [e.parameters["Operation"] for e in events] == ["VmSettings"] * 3
    assert "502 [Internal error in HostGAPlugin]" in str(messages[0])
    assert "without an ETag" in str(messages[2])
    now[0] = REPORT_PERIOD
    refresh(wire)  # the summary of the hour, then this poll's error (the first of a new hour)
    summary = events[-2].parameters
    assert [e.parameters["Operation"] for e in events[-2:]] == ["VmSettingsSummary", "VmSettings"]
    assert json.loads(str(summary["Message"])) == {
        "requests": 5,
        "errors": 5,
        "serverErrors": 1,
        "clientErrors": 1,
        "timeouts": 0,
        "failedRequests": 3,
    }
