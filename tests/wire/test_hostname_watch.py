"""Wire's hostname watch with the kernel's own change events: each change is made in a UTS
namespace of its own (`unshare -u`), so the machine keeps its name; the kernel's notification
is one counter for all namespaces, which is also what lets wire, in its private UTS namespace
(ProtectHostname=yes), see the host's changes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from waagent.common.errors import Failed
from waagent.wire.hostname_watch import HostnameWatch

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs root and unshare (a UTS namespace per change)",
    ),
]


def change_elsewhere(script: str) -> None:
    """Run `script` in a new UTS namespace (it changes that namespace's name)."""
    subprocess.run(["unshare", "-u", "sh", "-c", script], check=True, timeout=10)


class Calls(list[str]):
    """The callback's calls, with a wait for the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()

    def add(self) -> None:
        self.append("changed")
        self.event.set()

    async def wait(self, n: int, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while len(self) < n:
                self.event.clear()
                await self.event.wait()


@pytest.mark.parametrize(
    "how",
    ["hostname watched-1", "echo watched-2 > /proc/sys/kernel/hostname"],
    ids=["hostname", "proc-write"],
)
def test_a_change_by_any_means_reaches_the_callback(how: str) -> None:
    calls = Calls()

    async def changed() -> None:
        calls.add()

    async def scenario() -> None:
        watch = HostnameWatch(changed)
        watch.start(check_now=False)
        try:
            await asyncio.sleep(0.2)
            assert calls == []  # the file is always readable: no spurious wake-ups
            await asyncio.to_thread(change_elsewhere, how)
            await calls.wait(1)
            await asyncio.sleep(0.2)
            assert calls == ["changed"]
        finally:
            await watch.close()

    asyncio.run(scenario())


def test_changes_during_a_call_fold_into_one_more_call_and_errors_are_survived() -> None:
    calls = Calls()
    release = asyncio.Event()

    async def changed() -> None:
        calls.add()
        if len(calls) == 1:
            await release.wait()
            raise Failed("the provisioner is not there")

    async def scenario() -> None:
        watch = HostnameWatch(changed)
        watch.start()  # the check at start: a change made while wire was not running
        try:
            await calls.wait(1)
            for n in range(3):
                await asyncio.to_thread(change_elsewhere, f"hostname folded-{n}")
            await asyncio.sleep(0.2)
            assert calls == ["changed"]
            release.set()
            await calls.wait(2)
            await asyncio.sleep(0.2)
            assert calls == ["changed", "changed"]
            await asyncio.to_thread(change_elsewhere, "hostname after-error")
            await calls.wait(3)
        finally:
            await watch.close()

    asyncio.run(scenario())
