"""The status blob: HostGAPlugin first, then storage directly; uploaded when due (mock fabric)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from waagent.common.models.status import ExtensionsStatus
from waagent.wire.agent import Wire
from waagent.wire.errors import FabricError

from .fabric_mock import HOSTPLUGIN, MockFabric, make_wire

BLOB = "https://acct.blob/status?sig=x"
HOSTPLUGIN_VERSIONS = b"<Versions><Supported><Version>2015-09-01</Version></Supported></Versions>"


def ready(tmp_path: Path, fabric: MockFabric) -> Wire:
    fabric.serve_incarnation(1)
    wire = make_wire(tmp_path, fabric)
    asyncio.run(wire.refresh())
    return wire


def direct_only(tmp_path: Path, *storage_answers: int) -> tuple[MockFabric, Wire]:
    """A fabric whose HostGAPlugin is away and whose storage gives `storage_answers` in turn."""
    fabric = MockFabric()
    fabric.serve("GET", f"{HOSTPLUGIN}/versions", 503)
    fabric.serve("PUT", BLOB, *storage_answers)
    return fabric, ready(tmp_path, fabric)


def test_the_host_plugin_takes_the_status_and_an_unchanged_one_waits_for_its_period(
    tmp_path: Path,
) -> None:
    fabric = MockFabric()
    fabric.serve("GET", f"{HOSTPLUGIN}/versions", HOSTPLUGIN_VERSIONS)
    fabric.serve("PUT", f"{HOSTPLUGIN}/status", 200)
    wire = ready(tmp_path, fabric)

    async def go() -> list[bool]:
        return [await wire.report_status(), await wire.report_status()]

    assert asyncio.run(go()) == [True, False]  # the second is not due yet
    [(_, _, body)] = [r for r in fabric.requests if r[0] == "PUT"]
    envelope = json.loads(body)
    assert envelope["requestUri"] == BLOB
    assert fabric.count("PUT", BLOB) == 0


def test_without_the_host_plugin_the_status_goes_to_storage_directly(tmp_path: Path) -> None:
    fabric, wire = direct_only(tmp_path, 201)
    assert asyncio.run(wire.report_status()) is True
    [(_, _, body)] = [r for r in fabric.requests if r[0] == "PUT"]
    assert json.loads(body)["aggregateStatus"]["guestAgentStatus"]["status"] == "Ready"


def test_a_new_extensions_status_is_uploaded_at_once_and_a_failure_reaches_the_caller(
    tmp_path: Path,
) -> None:
    fabric, wire = direct_only(tmp_path, 201, 201, 500)

    async def go() -> None:
        assert await wire.report_status() is True
        await wire.set_extensions_status(ExtensionsStatus())  # uploaded though not due
        assert fabric.count("PUT", BLOB) == 2
        with pytest.raises(FabricError):
            await wire.set_extensions_status(ExtensionsStatus())

    asyncio.run(go())
    saved = (tmp_path / "state" / "extensions_status.json").read_text()
    assert ExtensionsStatus.model_validate_json(saved) == ExtensionsStatus()


def test_a_failed_upload_of_the_loop_is_the_last_error_not_an_exception(tmp_path: Path) -> None:
    _, wire = direct_only(tmp_path, 500)
    assert asyncio.run(wire.report_status()) is False
    assert "Failed to upload status blob via either channel" in wire.observable.last_error
