"""The log upload says how it went in telemetry, as classic (`LogCollection`, §10.13)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from waagent.common.errors import InvalidArgs
from waagent.common.models.events import TelemetryEvent
from waagent.wire import log_upload

from .fabric_mock import HOSTPLUGIN, MockFabric, make_wire
from .test_log_upload import VERSIONS, a_zip, bundle_fd


def upload(tmp_path: Path, fabric: MockFabric, data: bytes, sent: list[TelemetryEvent]) -> None:
    wire = make_wire(tmp_path, fabric)
    fd = bundle_fd(tmp_path, data)
    try:
        asyncio.run(
            log_upload.upload_logs(wire.connection.hostplugin, fd, wire.refresh, sent.append)
        )
    finally:
        os.close(fd)


def test_an_upload_sends_a_successful_log_collection_event_with_its_size(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(1)
    fabric.serve("GET", f"{HOSTPLUGIN}/versions", VERSIONS)
    fabric.serve("PUT", f"{HOSTPLUGIN}/vmAgentLog", 200)
    data = a_zip()
    sent: list[TelemetryEvent] = []
    upload(tmp_path, fabric, data, sent)
    (event,) = sent
    assert (event.parameters["Operation"], event.parameters["OperationSuccess"]) == (
        "LogCollection",
        True,
    )
    assert event.parameters["Message"] == f"Successfully uploaded logs ({len(data)} bytes)"


def test_a_refused_bundle_sends_a_failed_event_with_the_reason(tmp_path: Path) -> None:
    sent: list[TelemetryEvent] = []
    with pytest.raises(InvalidArgs):
        upload(tmp_path, MockFabric(), b"not a zip", sent)
    (event,) = sent
    assert (event.parameters["Operation"], event.parameters["OperationSuccess"]) == (
        "LogCollection",
        False,
    )
    assert (
        event.parameters["Message"] == "Failed to upload logs: the log bundle is not a zip archive"
    )
