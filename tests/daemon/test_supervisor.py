"""The supervisor with real child processes (small Python scripts), no bus needed."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.harness.procs import alive
from waagent.daemon.backoff import Backoff
from waagent.daemon.supervisor import Program, Start, Supervisor


async def until(condition: Callable[[], bool], timeout: float = 10, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def script(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def file_ready(path: Path) -> Callable[[int], Awaitable[bool]]:
    exists = path.exists  # a stat: too quick to matter to the event loop

    async def ready(pid: int) -> bool:
        return exists()

    return ready


async def always(pid: int) -> bool:
    return True


def fast_backoff() -> Backoff:
    return Backoff(first=0.05, cap=0.2, stable_after=60)


async def supervise(
    supervisor: Supervisor, condition: Callable[[], bool], what: str = "it"
) -> None:
    """Run the supervisor until `condition`, then stop it and wait for it to return."""
    task = asyncio.ensure_future(supervisor.run())
    try:
        await until(condition, what=what)
    finally:
        supervisor.stop()
        assert await asyncio.wait_for(task, 30) == 0


def test_each_program_starts_once_the_one_before_is_ready(tmp_path: Path) -> None:
    first = Program(
        "first",
        script(
            f"import time, pathlib; time.sleep(0.3); pathlib.Path('{tmp_path}/a').touch(); time.sleep(60)"
        ),
        file_ready(tmp_path / "a"),
    )
    second = Program(
        "second",
        script(
            "import pathlib, time;"
            f" pathlib.Path('{tmp_path}/b').write_text(str(pathlib.Path('{tmp_path}/a').exists()));"
            " time.sleep(60)"
        ),
        file_ready(tmp_path / "b"),
    )
    supervisor = Supervisor([first, second])
    asyncio.run(supervise(supervisor, (tmp_path / "b").exists, "the second program"))
    assert (tmp_path / "b").read_text() == "True"


def test_a_failing_child_is_restarted_with_a_doubling_delay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "waagent.daemon.supervisor")
    supervisor = Supervisor(
        [Program("flaky", script("raise SystemExit(3)"), always)], backoff=fast_backoff
    )
    child = supervisor.children[0]
    asyncio.run(supervise(supervisor, lambda: child.starts >= 5, "five starts"))
    delays = [
        record.getMessage().rsplit("restarting in ", 1)[1]
        for record in caplog.records
        if "restarting in" in record.getMessage()
    ]
    assert delays[:4] == ["0.05 s", "0.1 s", "0.2 s", "0.2 s"]
    assert "flaky (pid " in caplog.text and "exited with status 3" in caplog.text


def test_a_child_that_exits_with_status_0_stays_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "waagent.daemon.supervisor")
    supervisor = Supervisor([Program("done", script("pass"), always)], backoff=fast_backoff)
    child = supervisor.children[0]
    asyncio.run(
        supervise(
            supervisor,
            lambda: child.keeper is not None and child.keeper.done(),
            "the keeper to give up",
        )
    )
    assert child.starts == 1
    assert "exited with status 0; it is not restarted" in caplog.text


def test_a_program_that_cannot_be_executed_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "waagent.daemon.supervisor")
    program = Program("missing", [str(tmp_path / "no-such-program")], always)
    supervisor = Supervisor([program], backoff=fast_backoff)
    child = supervisor.children[0]
    asyncio.run(supervise(supervisor, lambda: child.starts >= 2, "a second attempt"))
    assert "cannot start missing: No such file or directory" in caplog.text


def test_children_are_stopped_in_reverse_order(tmp_path: Path) -> None:
    order = tmp_path / "order"
    programs = [
        Program(
            name,
            script(
                "import signal, sys, time\n"
                "def stop(*_):\n"
                f"    open('{order}', 'a').write('{name}\\n'); time.sleep(0.2); sys.exit(0)\n"
                "signal.signal(signal.SIGTERM, stop)\n"
                f"open('{tmp_path}/{name}.up', 'w').close()\n"
                "time.sleep(60)\n"
            ),
            file_ready(tmp_path / f"{name}.up"),
        )
        for name in ("first", "second", "third")
    ]
    supervisor = Supervisor(programs)
    asyncio.run(supervise(supervisor, (tmp_path / "third.up").exists, "every program up"))
    assert order.read_text().split() == ["third", "second", "first"]


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "waagent.daemon.supervisor")
    stubborn = Program(
        "stubborn",
        script(
            "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            f" pathlib.Path('{tmp_path}/up').touch(); time.sleep(60)"
        ),
        file_ready(tmp_path / "up"),
    )
    supervisor = Supervisor([stubborn], grace=0.3)
    child = supervisor.children[0]
    asyncio.run(supervise(supervisor, (tmp_path / "up").exists, "the program up"))
    assert child.pid is not None and not alive(child.pid)
    assert child.proc is not None and child.proc.returncode == -9
    assert "stubborn (pid" in caplog.text and "ignored SIGTERM for 0.3 s" in caplog.text


def test_a_start_step_runs_in_its_place_and_a_failed_one_does_not_stop_the_order(
    tmp_path: Path,
) -> None:
    order: list[str] = []

    def step(label: str, works: bool) -> Start:
        async def start() -> bool:
            order.append(label)
            if label == "broken":
                raise ConnectionError("no bus")
            return works

        return Start(label, start)

    last = Program(
        "last", script(f"import pathlib, time; pathlib.Path('{tmp_path}/c').touch(); time.sleep(60)"),
        file_ready(tmp_path / "c"),
    )  # fmt: skip
    supervisor = Supervisor([step("one", True), step("broken", True), step("no", False), last])
    asyncio.run(supervise(supervisor, (tmp_path / "c").exists, "the last program"))
    assert order == ["one", "broken", "no"]
    assert [c.program.label for c in supervisor.children] == ["last"]


def test_before_stop_runs_while_the_program_still_runs(tmp_path: Path) -> None:
    seen: list[bool] = []

    async def before_stop(grace: float) -> None:
        seen.append(alive(supervisor.children[0].pid or 0))

    program = Program("bus", script("import time; time.sleep(60)"), always, before_stop=before_stop)
    supervisor = Supervisor([program])
    asyncio.run(supervise(supervisor, lambda: supervisor.children[0].running, "the program"))
    assert seen == [True]
