"""Fixtures for diskd: real loop devices, fake sysfs/dev trees, and diskd on a private bus.

Everything a test makes is undone by the fixtures, also when the test fails: the diskd process
is stopped first (so no job is half-way), then swap and mounts on the test's disks are removed,
then the loop devices detached, then the private system stopped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from .disks import LoopDisk
from .system import Diskd, DiskEnvironment


def missing_for_loop_devices() -> str | None:
    if os.geteuid() != 0:
        return "needs root (loop devices, mounts, swap)"
    for tool in ("losetup", "sfdisk", "partx", "blkid", "mkfs.ext4", "mkswap", "swapon"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if not Path("/dev/loop-control").exists():
        return "needs loop device support (/dev/loop-control)"
    return None


@pytest.fixture
def loop_disks(tmp_path: Path) -> Iterator[Callable[..., LoopDisk]]:
    """A factory of loop disks (size in MiB), all released at the end."""
    reason = missing_for_loop_devices()
    if reason is not None:
        pytest.skip(reason)
    made: list[LoopDisk] = []

    def make(size_mb: int = 256) -> LoopDisk:
        disk = LoopDisk(tmp_path / f"disk{len(made)}.img", size_mb)
        made.append(disk)
        return disk

    yield make
    for disk in reversed(made):
        disk.release()


@pytest.fixture
def diskd(tmp_path: Path, loop_disks: Callable[..., LoopDisk]) -> Iterator[Callable[..., Diskd]]:
    """Start a private system with diskd activatable on `sysfs`/`dev` and the given config."""
    started: list[DiskEnvironment] = []

    def start(
        config: Mapping[str, str],
        *,
        sysfs: Path,
        dev: Path,
        disks: list[LoopDisk] | None = None,
    ) -> Diskd:
        args = ["--sysfs-root", str(sysfs), "--dev-root", str(dev)]
        env = DiskEnvironment(args, list(disks or []), config=dict(config))
        started.append(env)
        env.start()
        return Diskd(env, sysfs, dev, list(disks or []))

    yield start
    for env in reversed(started):
        env.stop()
