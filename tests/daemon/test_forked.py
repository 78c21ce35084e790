"""A child forked from the resident supervisor (daemon/forked.py): what it becomes, and the
supervisor keeping it as it keeps an exec'd one. Real forks of this test process, as root."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.test_supervisor import always, fast_backoff, supervise
from tests.harness.procs import alive
from waagent.daemon.forked import ForkedProcess, spawn
from waagent.daemon.resident_plan import Identity
from waagent.daemon.supervisor import Program, Supervisor

NOBODY = Identity(65534, 65534, [65534])

# Root: the child changes identity (make unit runs as nobody, so these are integration tests).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="changes identity: needs root"),
]


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """spawn() freezes the parent's objects for the child's sake: not this test runner's."""
    yield
    gc.unfreeze()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory nobody can write (pytest's own are under root's 0700 directory)."""
    with tempfile.TemporaryDirectory(prefix="waagent-forked-") as name:
        os.chmod(name, 0o777)
        yield Path(name)


def sleep_a_minute() -> int:
    time.sleep(60)
    return 0


def describe_self(out: Path) -> int:
    """The child's target: what the kernel says about it, written where the test reads it."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    facts = {
        "status": {k: v.strip() for k, v in status.items()},
        "comm": Path("/proc/self/comm").read_text().strip(),
        "session": int(stat[3]),
        "pid": os.getpid(),
        "fds": fds,
        "env": dict(os.environ),
        "sigterm": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
    }
    out.write_text(json.dumps(facts))
    return 3


def test_the_child_becomes_the_user_with_no_capabilities_nor_anything_of_the_parent(
    shared_dir: Path,
) -> None:
    out = shared_dir / "facts.json"
    kept_open = os.open(shared_dir, os.O_RDONLY)
    os.set_inheritable(kept_open, True)  # even an inheritable descriptor stays with the parent

    async def run() -> int:
        child = spawn(
            lambda: describe_self(out),
            name="waagent-wirepoll",
            env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/x"},
            identity=NOBODY,
        )
        assert child.returncode is None
        return await asyncio.wait_for(child.wait(), 30)

    try:
        assert asyncio.run(run()) == 3
    finally:
        os.close(kept_open)
    facts = json.loads(out.read_text())
    status = facts["status"]
    assert status["Uid"].split() == ["65534"] * 4
    assert status["Gid"].split() == ["65534"] * 4
    assert status["Groups"].split() == ["65534"]
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, (caps, status[caps])
    assert facts["comm"] == "waagent-wirepol"  # the kernel keeps 15 bytes
    assert facts["session"] == facts["pid"]
    assert max(facts["fds"]) <= 3  # 0-2, and the listing's own descriptor
    assert facts["env"] == {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/x"}
    assert facts["sigterm"]


def test_a_child_that_raises_ends_with_status_1_and_its_traceback_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken() -> int:
        raise RuntimeError("the poller could not start")

    async def run() -> int:
        return await asyncio.wait_for(spawn(broken, name="t", env={}).wait(), 30)

    assert asyncio.run(run()) == 1
    assert "RuntimeError: the poller could not start" in capfd.readouterr().err


def test_a_child_killed_by_a_signal_reports_it_as_asyncio_does() -> None:
    async def run() -> tuple[int, int | None]:
        child = spawn(sleep_a_minute, name="t", env={})
        child.send_signal(signal.SIGKILL)
        code = await asyncio.wait_for(child.wait(), 30)
        child.send_signal(signal.SIGTERM)  # reaped: a signal is not sent to a reused pid
        return code, child.returncode

    assert asyncio.run(run()) == (-signal.SIGKILL, -signal.SIGKILL)


def test_the_supervisor_forks_again_a_forked_child_that_was_killed_and_stops_it(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"

    def sleeper() -> int:
        with pids.open("a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(60)
        return 0

    def started() -> list[int]:
        return [int(p) for p in pids.read_text().split()] if pids.exists() else []

    forks: list[ForkedProcess] = []

    def fork() -> ForkedProcess:
        forks.append(spawn(sleeper, name="sleeper", env={}))
        return forks[-1]

    async def run() -> None:
        program = Program("sleeper", ["sleeper"], always, fork=fork)
        supervisor = Supervisor([program], backoff=fast_backoff, grace=5)

        def killed_once_and_back() -> bool:
            if len(started()) == 1:
                with contextlib.suppress(ProcessLookupError):  # dead, and reaped already
                    os.kill(started()[0], signal.SIGKILL)
            return len(started()) == 2

        await supervise(supervisor, killed_once_and_back, what="a second fork")

    asyncio.run(run())
    first, second = started()
    assert forks[0].returncode == -signal.SIGKILL
    assert forks[1].returncode == -signal.SIGTERM  # stopped with the supervisor
    assert not alive(first) and not alive(second)
