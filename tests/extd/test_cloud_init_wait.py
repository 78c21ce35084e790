"""The cloud-init wait without a bus: once per boot, the timeout passed on, errors proceed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from waagent.common.commands import CommandTimedOut, Completed
from waagent.common.root import Root
from waagent.extd.cloud_init_wait import NOTE, CloudInitWait
from waagent.extd.telemetry import Telemetry


class Runner:
    def __init__(self, hang: bool = False) -> None:
        self.calls: list[tuple[tuple[str, ...], float]] = []
        self.hang = hang

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        input: bytes | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Completed:
        self.calls.append((tuple(argv), timeout))
        if self.hang:
            raise CommandTimedOut(argv, timeout, Completed(tuple(argv), -9, "", ""))
        return Completed(tuple(argv), 0, "status: done\n", "")


def machine(tmp_path: Path, *, installed: bool = True) -> Root:
    if installed:
        script = tmp_path / "usr/bin/cloud-init"
        script.parent.mkdir(parents=True)
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    return Root(tmp_path)


def waiter(root: Root, runner: Runner, boot_id: str = "boot-1") -> CloudInitWait:
    return CloudInitWait(root, runner, Telemetry(), timeout=42, boot_id=boot_id)


def test_it_runs_status_wait_with_the_configured_timeout_once_per_boot(tmp_path: Path) -> None:
    root, runner = machine(tmp_path), Runner()
    asyncio.run(waiter(root, runner).wait_once())
    asyncio.run(waiter(root, runner).wait_once())  # a re-activated extd, same boot
    assert runner.calls == [((str(tmp_path / "usr/bin/cloud-init"), "status", "--wait"), 42)]
    asyncio.run(waiter(root, runner, boot_id="boot-2").wait_once())
    assert len(runner.calls) == 2


def test_a_timeout_is_reported_and_not_waited_for_again(tmp_path: Path) -> None:
    root, runner = machine(tmp_path), Runner(hang=True)
    wait = waiter(root, runner)
    asyncio.run(wait.wait_once())
    (waiting, failed) = wait.telemetry.queue
    assert waiting.parameters["OperationSuccess"] is True
    assert failed.parameters["Operation"] == "CloudInit"
    assert failed.parameters["OperationSuccess"] is False
    assert "did not finish within 42 s" in str(failed.parameters["Message"])
    assert wait.done() and root.read_text(NOTE) == "boot-1"


def test_without_cloud_init_nothing_runs(tmp_path: Path) -> None:
    root, runner = machine(tmp_path, installed=False), Runner()
    wait = waiter(root, runner)
    asyncio.run(wait.wait_once())
    assert runner.calls == [] and wait.telemetry.queue == []
