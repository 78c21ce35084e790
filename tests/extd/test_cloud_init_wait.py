"""The cloud-init wait without a bus, with a real `cloud-init` script in a sandbox root: once
per boot, the timeout honoured, errors reported and proceeded from."""

from __future__ import annotations

import asyncio
from pathlib import Path

from waagent.common.commands import Runner
from waagent.common.root import Root
from waagent.extd.cloud_init_wait import NOTE, CloudInitWait
from waagent.extd.telemetry import Telemetry


def machine(tmp_path: Path, body: str | None = "true") -> Root:
    """A root whose /usr/bin/cloud-init notes each run in /calls, then runs `body`."""
    if body is not None:
        script = tmp_path / "usr/bin/cloud-init"
        script.parent.mkdir(parents=True)
        script.write_text(
            f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n{body}\necho "status: done"\n'
        )
        script.chmod(0o755)
    return Root(tmp_path)


def calls(root: Root) -> list[str]:
    return (root.read_text("/calls") or "").splitlines()


def wait_once(root: Root, boot_id: str = "boot-1", timeout: float = 30) -> CloudInitWait:
    wait = CloudInitWait(root, Runner(), Telemetry(), timeout=timeout, boot_id=boot_id)
    asyncio.run(wait.wait_once())
    return wait


def test_it_runs_status_wait_once_per_boot(tmp_path: Path) -> None:
    root = machine(tmp_path)
    first = wait_once(root)
    wait_once(root)  # a re-activated extd, same boot
    assert calls(root) == ["status --wait"]
    assert [e.parameters["Message"] for e in first.telemetry.queue] == [
        "Waiting for cloud-init to complete...",
        "cloud-init completed\nstatus: done",
    ]
    wait_once(root, boot_id="boot-2")
    assert len(calls(root)) == 2


def test_a_hang_is_given_up_at_the_timeout_reported_and_not_waited_for_again(
    tmp_path: Path,
) -> None:
    root = machine(tmp_path, "sleep 600")
    wait = wait_once(root, timeout=0.5)
    (waiting, failed) = wait.telemetry.queue
    assert waiting.parameters["OperationSuccess"] is True
    assert failed.parameters["Operation"] == "CloudInit"
    assert failed.parameters["OperationSuccess"] is False
    assert "did not finish within 0.5 s" in str(failed.parameters["Message"])
    assert wait.done() and root.read_text(NOTE) == "boot-1"


def test_a_failing_cloud_init_is_reported_and_extensions_proceed(tmp_path: Path) -> None:
    root = machine(tmp_path, "echo 'status: error' >&2; exit 1")
    wait = wait_once(root)
    failed = wait.telemetry.queue[-1].parameters
    assert failed["OperationSuccess"] is False and "status: error" in str(failed["Message"])
    assert wait.done()


def test_without_cloud_init_nothing_runs(tmp_path: Path) -> None:
    wait = wait_once(machine(tmp_path, None))
    assert wait.telemetry.queue == [] and wait.done()
