"""`waagent -start`: the daemon detached, in a session of its own, its pid printed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.system import CliSystem, children_of, installed_services, kill
from tests.harness.procs import alive
from tests.harness.wait import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def started(system: CliSystem) -> Iterator[int]:
    result = system.waagent("-start", f"-root:{system.root}")
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout)
    yield pid
    kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), timeout=60, what="the started daemon to stop")


def test_the_pid_printed_is_the_daemon_holding_the_pid_file(
    system: CliSystem, started: int
) -> None:
    cmdline = Path(f"/proc/{started}/cmdline").read_bytes().split(b"\0")
    assert b"-daemon" in cmdline
    assert system.pid_file.read_text().strip() == str(started)
    owners = system.wait_up(installed_services())
    assert set(owners.values()) <= set(children_of(started))


def test_the_daemon_is_detached_with_its_stdio_on_dev_null(started: int) -> None:
    assert os.getsid(started) == started
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{started}/fd/{fd}") == "/dev/null"


def test_start_while_a_daemon_runs_says_so_and_starts_nothing(
    system: CliSystem, started: int
) -> None:
    result = system.waagent("-start", f"-root:{system.root}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"waagent -daemon is already running (pid {started})\n"


def test_sigterm_to_the_started_daemon_stops_it_and_its_services(
    system: CliSystem, started: int
) -> None:
    owners = system.wait_up(installed_services())
    os.kill(started, signal.SIGTERM)
    wait_for(
        lambda: not any(alive(pid) for pid in [started, *owners.values()]),
        timeout=60,
        what="the daemon and its services to stop",
    )
