"""Putting diskd's pieces together (used by the service, the bench and the tests)."""

from __future__ import annotations

from pathlib import Path

from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.root import Root
from .activation import Activator
from .crypt import SwapEncryption
from .detect import DiskFinder
from .mounts import KernelState
from .resource_disk import ResourceDisk
from .scsi import ScsiTimeouts
from .service import DiskService
from .swap import SwapFile


def build_service(
    config: AgentConfig,
    root: Root,
    runner: CommandRunner,
    sysfs_root: Path,
    dev_root: Path,
    *,
    boot_id: str | None = None,
    activator: Activator | None = None,
) -> DiskService:
    kernel = KernelState()
    return DiskService(
        config,
        root,
        finder=DiskFinder(sysfs_root, dev_root, config.resource_disk_device),
        resource_disk=ResourceDisk(config, root, runner, kernel, activator),
        swap=SwapFile(runner, kernel, SwapEncryption(runner, dev_root), activator),
        scsi=ScsiTimeouts(sysfs_root, root),
        boot_id=boot_id,
    )
