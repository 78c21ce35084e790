"""Status and heartbeat files -> what is reported (§9.10, §9.11, §5.2)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from waagent.common.root import Root
from waagent.extd.aggregate_status import to_report
from waagent.extd.heartbeat import read_heartbeat
from waagent.extd.layout import Layouts
from waagent.extd.report import Reporter
from waagent.extd.state import (
    ExtdState,
    ExtensionFailure,
    ExtensionRef,
    GoalStateOutcome,
    HandlerRecord,
)
from waagent.extd.status import StatusReader


def status_file(path: Path, status: dict[str, Any] | None = None, **fields: Any) -> Path:
    body = status or {
        "name": "x",
        "operation": "Enable",
        "status": "success",
        "code": 0,
        "formattedMessage": {"lang": "en-US", "message": "all good"},
        **fields,
    }
    path.write_text(
        json.dumps([{"version": 1.0, "timestampUTC": "2026-01-01T00:00:00Z", "status": body}])
    )
    return path


def aged(path: Path, seconds: float = 10) -> Path:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    return path


def test_a_status_file_is_read_as_the_extension_wrote_it(tmp_path: Path) -> None:
    path = status_file(
        tmp_path / "0.status", substatus=[{"name": "s", "status": "warning", "code": 2}]
    )
    found = StatusReader().read(path, "P.A")
    assert found is not None
    assert (found.name, found.status, found.code, found.operation) == (
        "P.A",
        "success",
        0,
        "Enable",
    )
    assert found.formatted_message.message == "all good"
    assert found.substatus is not None and found.substatus[0].status == "warning"


def test_a_missing_status_file_is_transitioning(tmp_path: Path) -> None:
    found = StatusReader().read(tmp_path / "0.status", "P.A")
    assert found is not None and found.status == "transitioning"
    assert "no status file was reported by extension P.A" in (found.formatted_message.message or "")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON"),
        ('{"status": {}}', "not a JSON array"),
        ('[{"status": {"code": 0}}]', "has no status"),
        ('[{"status": {"status": 3}}]', "is not a string"),
        ('[{"status": {"status": "success", "code": "x"}}]', "is not a number"),
        (
            '[{"status": {"status": "success", "formattedMessage": {"message": "m"}}}]',
            "needs lang and message",
        ),
    ],
)
def test_a_malformed_status_file_is_an_error_1012(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "0.status"
    path.write_text(content)
    aged(path)
    found = StatusReader().read(path, "P.A")
    assert found is not None and (found.status, found.code) == ("error", 1012)
    assert reason in (found.formatted_message.message or "")


@pytest.mark.parametrize("value", ["failed", "Failed", "aborted"])
def test_a_status_outside_the_documented_set_is_an_error_keeping_the_extensions_code(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "0.status"
    document = {
        "status": value,
        "code": 52,
        "formattedMessage": {"lang": "en-US", "message": "apt-get failed: no space"},
        "substatus": [{"status": value, "code": 3, "name": "step"}],
    }
    path.write_text(json.dumps([{"version": 1.0, "status": document}]))
    found = StatusReader().read(path, "P.A")
    assert found is not None
    assert (found.status, found.code) == ("error", 52)
    assert found.formatted_message.message == "apt-get failed: no space"
    assert found.substatus is not None and found.substatus[0].status == "error"


def test_a_status_file_being_written_is_not_an_error_yet(tmp_path: Path) -> None:
    path = tmp_path / "0.status"
    path.write_text('[{"status": {"status": "succ')
    reader = StatusReader()
    assert reader.read(path, "P.A").status == "transitioning"  # type: ignore[union-attr]
    aged(path)
    assert reader.read(path, "P.A").code == 1012  # type: ignore[union-attr]


def test_a_status_file_over_128_kib_is_truncated_as_the_classic_agent_does(tmp_path: Path) -> None:
    subs = [
        {
            "name": "n" * 20_000,
            "status": "success",
            "formattedMessage": {"lang": "en", "message": "m" * 30_000},
        }
    ] * 10
    path = status_file(
        tmp_path / "0.status",
        formattedMessage={"lang": "en-US", "message": "x" * 200_000},
        substatus=subs,
    )
    found = StatusReader().read(path, "P.A")
    assert found is not None and found.status == "success"
    assert found.formatted_message.message == "x" * 1024 + " ... [TRUNCATED]"
    assert found.substatus is not None and 0 < len(found.substatus) < 10
    assert found.substatus[0].name == "n" * 10240 + " ... [TRUNCATED]"
    assert sum(len(s.model_dump_json()) for s in found.substatus) <= 128 * 1024


def test_an_empty_array_reports_no_extension_status(tmp_path: Path) -> None:
    (tmp_path / "0.status").write_text("[]")
    assert StatusReader().read(tmp_path / "0.status", "P.A") is None


def test_heartbeat_rules(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.log"
    assert read_heartbeat(path, time.time()).message == "Failed to get heart beat file"
    path.write_text(
        json.dumps(
            [
                {
                    "version": 1.0,
                    "heartbeat": {
                        "status": "ready",
                        "code": 0,
                        "formattedMessage": {"lang": "en-US", "message": "alive"},
                    },
                }
            ]
        )
    )
    beat = read_heartbeat(path, time.time())
    assert (beat.status, beat.code, beat.message) == ("ready", 0, "alive")
    stale = read_heartbeat(path, time.time() + 601)
    assert (stale.status, stale.code) == ("Unresponsive", -1)


def record(**fields: Any) -> HandlerRecord:
    base: dict[str, Any] = {
        "name": "P.A",
        "version": "1.0.0",
        "extensions": (ExtensionRef(name="P.A", seq_no=2),),
        "status": "Ready",
        "message": "Plugin enabled",
    }
    return HandlerRecord(**{**base, **fields})


def installed(tmp_path: Path) -> tuple[Layouts, Path]:
    layouts = Layouts(Root(tmp_path), "/var/lib/waagent", "/var/log/azure")
    layout = layouts.of("P.A", "1.0.0")
    layout.dir.mkdir(parents=True)
    layout.initialize()
    layout.write_state("Enabled")
    (layout.dir / "HandlerManifest.json").write_text(
        '[{"handlerManifest": {"enableCommand": "x"}}]'
    )
    return layouts, layout.status_dir


def test_the_status_of_the_goal_states_seq_is_reported_not_the_largest(tmp_path: Path) -> None:
    layouts, status_dir = installed(tmp_path)
    status_file(status_dir / "2.status")
    status_file(status_dir / "9.status", status={"status": "error", "code": 5})
    state = ExtdState(
        handlers={"p.a": record()},
        outcome=GoalStateOutcome(
            status="Success",
            message="GoalState executed successfully",
            timestamp="t",
            svd_seq_no="4",
        ),
    )
    report, entries = Reporter(layouts).report(state)
    data = report.to_json()
    (handler,) = data["handlerAggregateStatus"]
    assert handler["handlerName"] == "P.A" and handler["status"] == "Ready"
    assert handler["runtimeSettingsStatus"]["sequenceNumber"] == 2
    assert handler["runtimeSettingsStatus"]["settingsStatus"]["status"]["status"] == "success"
    assert "extensionName" not in handler["runtimeSettingsStatus"]
    assert data["vmArtifactsAggregateStatus"]["goalStateAggregateStatus"] == {
        "formattedMessage": {"lang": "en-US", "message": "GoalState executed successfully"},
        "timestampUTC": "t",
        "inSvdSeqNo": "4",
        "status": "Success",
        "code": 0,
    }
    assert entries[0].terminal


def test_a_handler_that_is_not_installed_reports_its_bare_handler_status(tmp_path: Path) -> None:
    layouts = Layouts(Root(tmp_path), "/var/lib/waagent", "/var/log/azure")
    failure = ExtensionFailure(seq_no=2, code=1001, message="no download", operation="Download")
    state = ExtdState(
        handlers={
            "p.a": record(
                status="NotReady", code=1001, message="no download", failures={"P.A": failure}
            )
        }
    )
    data = to_report(Reporter(layouts).entries(state), state).to_json()
    assert data["handlerAggregateStatus"] == [
        {
            "handlerVersion": "1.0.0",
            "handlerName": "P.A",
            "status": "NotReady",
            "code": 1001,
            "useExactVersion": True,
            "formattedMessage": {"lang": "en-US", "message": "no download"},
        }
    ]
    assert "vmArtifactsAggregateStatus" not in data


def test_an_agent_failure_stands_in_for_a_missing_status_file(tmp_path: Path) -> None:
    layouts, _ = installed(tmp_path)
    failure = ExtensionFailure(
        seq_no=2, code=1009, message="Non-zero exit code: 1", operation="Enable"
    )
    state = ExtdState(
        handlers={"p.a": record(status="NotReady", code=1009, failures={"P.A": failure})}
    )
    (entry,) = Reporter(layouts).entries(state)
    assert entry.detail is not None
    assert (entry.detail.status, entry.detail.code, entry.detail.operation) == (
        "error",
        1009,
        "Enable",
    )


def test_a_heartbeat_handler_reports_the_heartbeat_as_its_status(tmp_path: Path) -> None:
    layouts, _ = installed(tmp_path)
    layout = layouts.of("P.A", "1.0.0")
    (layout.dir / "HandlerManifest.json").write_text(
        '[{"handlerManifest": {"enableCommand": "x", "reportHeartbeat": true}}]'
    )
    state = ExtdState(handlers={"p.a": record(extensions=())})
    (entry,) = Reporter(layouts).entries(state)
    assert (
        entry.handler_status.message
        if False
        else entry.handler_status.formatted_message is not None
    )
    assert entry.handler_status.code == -1
    assert entry.handler_status.formatted_message.message == "Failed to get heart beat file"  # type: ignore[union-attr]


def test_a_status_file_that_is_a_fifo_or_a_device_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """Extension code can leave anything at its status path: a FIFO nobody writes to would
    block a plain read forever, a link to /dev/zero would fill memory."""
    fifo = tmp_path / "0.status"
    os.mkfifo(fifo)
    found = StatusReader().read(fifo, "P.A")
    assert found is not None and (found.status, found.code) == ("error", -1)
    assert "not a regular file" in (found.formatted_message.message or "")
    zero = tmp_path / "1.status"
    zero.symlink_to("/dev/zero")
    found = StatusReader().read(zero, "P.A")
    assert found is not None and "not a regular file" in (found.formatted_message.message or "")


def test_a_heartbeat_that_is_a_fifo_is_reported_not_waited_for(tmp_path: Path) -> None:
    fifo = tmp_path / "heartbeat.log"
    os.mkfifo(fifo)
    beat = read_heartbeat(fifo, time.time())
    assert (beat.status, beat.code) == (None, -1)
    assert "not a regular file" in beat.message
