"""diskd on a private system bus, pointed at a test's sysfs and dev trees (tests and bench)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.callers import Reply
from tests.harness.environment import Environment
from tests.harness.procs import pids_with_marker, terminate
from tests.harness.wait import wait_for
from waagent.common.names import DISK, BusName

from .disks import LoopDisk, dev_root, gen2_sysfs

# States in which diskd has finished what it was doing.
SETTLED = {"Mounted", "Failed", "NoResourceDisk", "NotStarted"}


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


BASE_CONFIG = {
    "ResourceDisk.Format": "y",
    "ResourceDisk.Filesystem": "ext4",
    "ResourceDisk.MountOptions": "nodev,nosuid",
    "Services.IdleTimeout": "300",
}


def config(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**BASE_CONFIG, **(overrides or {})}


Start = Callable[..., Diskd]


def start_on(
    start: Start, disk: LoopDisk, tmp_path: Path, overrides: Mapping[str, str] | None = None
) -> Diskd:
    """diskd on a Gen2 topology whose resource disk (LUN 1) is `disk`."""
    sysfs = gen2_sysfs(tmp_path / "sys", disk.name)
    return start(config(overrides), sysfs=sysfs, dev=dev_root(tmp_path / "dev", disk), disks=[disk])
