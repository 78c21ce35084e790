"""Log bundles to the HostGAPlugin: a zip, bounded, retried once on a stale container."""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from pathlib import Path

import pytest

from waagent.common.errors import InvalidArgs
from waagent.wire import log_upload

from .fabric_mock import HOSTPLUGIN, MockFabric, make_wire

VERSIONS = b"<Versions><Supported><Version>2015-09-01</Version></Supported></Versions>"


def bundle_fd(tmp_path: Path, data: bytes) -> int:
    path = tmp_path / "bundle"
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("waagent.log", "hello")
    return buffer.getvalue()


def test_read_bounded_refuses_more_than_its_limit(tmp_path: Path) -> None:
    fd = bundle_fd(tmp_path, b"x" * 10)
    try:
        assert log_upload.read_bounded(fd, 10) == b"x" * 10
        with pytest.raises(InvalidArgs):
            log_upload.read_bounded(fd, 9)
    finally:
        os.close(fd)


def test_a_bundle_that_is_not_a_zip_is_refused_before_any_request(tmp_path: Path) -> None:
    fabric = MockFabric()
    wire = make_wire(tmp_path, fabric)
    fd = bundle_fd(tmp_path, b"not a zip")
    try:
        with pytest.raises(InvalidArgs):
            asyncio.run(wire.upload_logs(fd))
    finally:
        os.close(fd)
    assert fabric.requests == []


def test_a_stale_container_refreshes_the_goal_state_and_retries_once(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(1)
    fabric.serve("GET", f"{HOSTPLUGIN}/versions", VERSIONS)
    fabric.serve("PUT", f"{HOSTPLUGIN}/vmAgentLog", 410, 200)
    wire = make_wire(tmp_path, fabric)
    data = a_zip()
    fd = bundle_fd(tmp_path, data)
    try:
        assert asyncio.run(wire.upload_logs(fd)) == len(data)
    finally:
        os.close(fd)
    assert fabric.count("PUT", f"{HOSTPLUGIN}/vmAgentLog") == 2
    assert wire.observable.incarnation == "1"  # the refresh in between fetched the goal state
