"""Fixtures for diskd: real loop devices, fake sysfs/dev trees, and diskd on a private bus.

Everything a test makes is undone by the fixtures, also when the test fails: the diskd process
is stopped first (so no job is half-way), then swap and mounts on the test's disks are removed,
then the loop devices detached, then the private system stopped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness.callers import Reply
from tests.harness.environment import Environment
from tests.harness.procs import pids_with_marker, terminate
from tests.harness.wait import wait_for
from waagent.common.names import DISK, BusName

from .disks import LoopDisk

# States in which diskd has finished what it was doing.
SETTLED = {"Mounted", "Failed", "NoResourceDisk", "NotStarted"}


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


class DiskEnvironment(Environment):
    """A private system where diskd is activated with the test's sysfs and dev roots."""

    def __init__(self, disk_args: list[str], disks: list[LoopDisk], **kw: Any) -> None:
        super().__init__(**kw)
        self.disk_args = disk_args
        self.disks = disks

    def make_activatable(self, service: BusName, *extra: str) -> None:
        if service == DISK and not extra:
            extra = tuple(self.disk_args)
        super().make_activatable(service, *extra)

    def stop(self) -> None:
        # diskd first, so no job is half-way; then what it made on the disks; then the rest.
        terminate(pids_with_marker(self.disk_args[1]))
        for disk in self.disks:
            disk.release_mounts()
        super().stop()


@dataclass
class Diskd:
    env: DiskEnvironment
    sysfs: Path
    dev: Path
    disks: list[LoopDisk] = field(default_factory=list)

    @property
    def mount_point(self) -> Path:
        return self.env.sandbox.path("/mnt/resource")

    def call(self, method: str, signature: str = "", *args: str, user: str | None = None) -> Reply:
        return self.env.busctl.call(
            DISK.name, DISK.path, DISK.interface, method, signature, *args, user=user, timeout=120
        )

    def props(self) -> dict[str, Any]:
        reply = self.env.busctl.call(
            DISK.name, DISK.path, "org.freedesktop.DBus.Properties", "GetAll", "s", DISK.interface
        )
        assert reply.ok, reply.error
        return {key: value["data"] for key, value in reply.data[0].items()}

    def settled(self, timeout: float = 60) -> dict[str, Any]:
        """The properties once the work started at activation is over."""
        return wait_for(
            lambda: (p := self.props())["State"] in SETTLED and p,
            timeout=timeout,
            what="diskd to settle",
        )

    def log(self) -> str:
        path = self.env.sandbox.path("/var/log/waagent.log")
        return path.read_text(errors="replace") if path.exists() else ""


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


BASE_CONFIG = {
    "ResourceDisk.Format": "y",
    "ResourceDisk.Filesystem": "ext4",
    "ResourceDisk.MountOptions": "nodev,nosuid",
    "Services.IdleTimeout": "300",
}


def config(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**BASE_CONFIG, **(overrides or {})}
