"""READY=1 to the service manager's socket, and the provisioner's gate before it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from waagent.common import sd_notify
from waagent.common.bus import service


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    with sock:
        yield sock


def test_ready_reaches_the_socket_named_by_the_environment(listener: socket.socket) -> None:
    assert sd_notify.notify("READY=1")
    assert listener.recv(100) == b"READY=1"


def test_an_abstract_socket_is_reached_too(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"waagent-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify.notify("READY=1")
        assert sock.recv(100) == b"READY=1"


def test_without_a_service_manager_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sd_notify.notify("READY=1")


def test_a_socket_nobody_listens_on_is_a_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert not sd_notify.notify("READY=1")
    assert "could not tell the service manager READY=1" in caplog.text


def test_ready_waits_for_the_gate(listener: socket.socket) -> None:
    async def go() -> None:
        gate = asyncio.Event()
        task = asyncio.ensure_future(service._notify_ready(gate.wait))
        await asyncio.sleep(0.2)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.recv(100)  # not before the gate opened
        gate.set()
        await task

    asyncio.run(go())
    listener.setblocking(True)
    assert listener.recv(100) == b"READY=1"


def test_a_gate_that_stays_shut_still_gives_ready_after_the_deadline(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service, "READY_DEADLINE", 0.1)
    asyncio.run(service._notify_ready(asyncio.Event().wait))
    assert listener.recv(100) == b"READY=1"
    assert "telling systemd the start is done anyway" in caplog.text
