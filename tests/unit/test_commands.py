from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from waagent.common.commands import CommandFailed, CommandTimedOut, Runner


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_command_returns_its_output() -> None:
    result = run(Runner().run(["sh", "-c", "echo out; echo err >&2"], timeout=10))
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_failure_carries_the_command_s_own_message() -> None:
    with pytest.raises(CommandFailed) as info:
        run(Runner().run(["sh", "-c", "echo 'disk is busy' >&2; exit 3"], timeout=10))
    assert str(info.value) == "sh failed: disk is busy"
    assert info.value.result.returncode == 3


def test_a_missing_program_is_a_clear_failure() -> None:
    with pytest.raises(CommandFailed, match="cannot run /nonexistent/mkfs.zfs9"):
        run(Runner().run(["/nonexistent/mkfs.zfs9"], timeout=10))


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match="did not finish within 0.5 s"):
        run(Runner().run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5))
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{child}").exists(), "the grandchild survived the timeout"


def test_output_is_capped_so_a_flood_cannot_exhaust_memory() -> None:
    result = run(Runner(max_output=1000).run(["sh", "-c", "head -c 5000000 /dev/zero"], timeout=30))
    assert len(result.stdout) == 1000


def test_commands_get_a_predictable_environment() -> None:
    os.environ["WAAGENT_TEST_LEAK"] = "1"
    try:
        result = run(Runner().run(["env"], timeout=10))
    finally:
        del os.environ["WAAGENT_TEST_LEAK"]
    assert "LC_ALL=C" in result.stdout
    assert "WAAGENT_TEST_LEAK" not in result.stdout


def test_input_is_passed_on_stdin() -> None:
    assert run(Runner().run(["cat"], timeout=10, input=b"abc")).stdout == "abc"
