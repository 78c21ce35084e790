"""Partition, format and mount the resource disk (reference §8.2).

Already mounted (anywhere) → reuse that mount. Otherwise the plan (plan.py) decides from what
the disk holds, and the never-format rule is checked once more on the partition itself just
before mkfs. The filesystem is mounted at ResourceDisk.MountPoint inside the service's root with
ResourceDisk.MountOptions, and the data-loss warning is written on it.

Unlike the classic agent, a failed mount is never answered with mkfs: it is retried once after
telling the kernel the partitions again, then reported with mount's own message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.errors import Failed
from ..common.root import Root, write_file_atomic
from ..common.system_dirs import refusal
from .activation import Activator, Commands
from .models import State, Table
from .mounts import KernelState
from .partition import Partitioner, disk_size
from .plan import FormatPartition, MountExisting, Plan, Refuse, Repartition, choose
from .probe import NeverFormat, Prober

log = logging.getLogger(__name__)

README = "DATALOSS_WARNING_README.txt"
README_TEXT = """\
WARNING: THIS IS A TEMPORARY DISK.

Any data stored on this drive is SUBJECT TO LOSS and THERE IS NO WAY TO RECOVER IT.

Please do not use this disk for storing any personal or application data.

For additional details to please refer to the MSDN documentation at :
http://msdn.microsoft.com/en-us/library/windowsazure/jj672979.aspx
"""
MKFS_TIMEOUT = 600.0

Step = Callable[[State], None]


@dataclass(frozen=True)
class MountedDisk:
    device: Path
    mount_point: Path
    fstype: str


def mkfs_argv(fstype: str, device: Path) -> list[str]:
    force = "-f" if fstype in ("xfs", "btrfs") else "-F"
    return [f"mkfs.{fstype}", force, str(device)]


def write_readme(mount_point: Path) -> None:
    try:
        write_file_atomic(mount_point / README, README_TEXT, mode=0o644)
    except OSError as exc:
        log.warning("cannot write %s on %s: %s", README, mount_point, exc.strerror or exc)


class ResourceDisk:
    def __init__(
        self,
        config: AgentConfig,
        root: Root,
        runner: CommandRunner,
        kernel: KernelState,
        activator: Activator | None = None,
    ) -> None:
        self.config = config
        self.root = root
        self.runner = runner
        self.kernel = kernel
        self.activator = activator or Commands(runner)
        self.prober = Prober(runner)
        self.partitioner = Partitioner(runner)

    async def current(self, disk: Path) -> MountedDisk | None:
        """Where the disk (or one of its partitions) is mounted now, without changing anything."""
        table = await self.partitioner.read_table(disk)
        return self._mounted(disk, table)

    def _mounted(self, disk: Path, table: Table | None) -> MountedDisk | None:
        nodes = [p.node for p in table.partitions] if table else []
        mount = self.kernel.mount_of([disk, *nodes])
        if mount is None:
            return None
        return MountedDisk(disk, Path(mount.mount_point), mount.fstype)

    async def activate(self, disk: Path, step: Step) -> MountedDisk:
        """Make the resource disk mounted, formatting it only when it holds nothing to keep."""
        table = await self.partitioner.read_table(disk)
        mounted = self._mounted(disk, table)
        if mounted is not None:
            if mounted.mount_point == Path("/"):
                raise Failed(f"{disk} holds the root filesystem; it is not a resource disk")
            log.info("%s is already mounted at %s; using it", disk, mounted.mount_point)
        else:
            self.check_mount_point()
            await self.partitioner.update_kernel(disk)
            mount_point = self.root.makedirs(self.config.resource_disk_mount_point, 0o755)
            plan = await self.plan(disk, table)
            log.info("%s: %s", disk, plan)
            device, fstype = await self._execute(plan, disk, step)
            step(State.MOUNTING)
            await self._mount(disk, device, fstype, mount_point)
            mounted = MountedDisk(disk, mount_point, fstype)
        write_readme(mounted.mount_point)
        return mounted

    def check_mount_point(self) -> None:
        """Refuse a mount point on a system directory, also one reached through a symlink."""
        configured = self.config.resource_disk_mount_point
        resolved = str(self.root.inner(self.root.resolve(configured)))
        why = refusal(configured) or refusal(resolved)
        if why is None:
            return
        shown = configured if resolved == configured else f"{configured} (resolved: {resolved})"
        raise Failed(
            f"ResourceDisk.MountPoint={shown}: {why}; "
            "the resource disk is neither formatted nor mounted"
        )

    async def plan(self, disk: Path, table: Table | None) -> Plan:
        whole = await self.prober.probe(disk)
        contents = {}
        for part in table.partitions if table else ():
            contents[part.number] = await self.prober.probe(disk, part.start, part.size)
        return choose(disk, disk_size(disk), whole, table, contents)

    async def _execute(self, plan: Plan, disk: Path, step: Step) -> tuple[Path, str]:
        fstype = self.config.resource_disk_filesystem
        if isinstance(plan, Refuse):
            raise NeverFormat(plan.reason)
        if isinstance(plan, MountExisting):
            if plan.device == disk:
                return disk, plan.fstype
            return await self.partitioner.wait_for_node(disk, plan.device), plan.fstype
        step(State.PARTITIONING)
        if isinstance(plan, Repartition):
            await self.partitioner.create_single(disk, plan.label)
            table = await self.partitioner.read_table(disk)
            first = table.partition(1) if table else None
            if first is None:
                raise Failed(f"{disk}: the new partition table has no partition 1")
            node = first.node
        else:
            assert isinstance(plan, FormatPartition)
            if plan.set_linux_type:
                await self.partitioner.set_linux_type(disk, plan.partition.number)
            node = plan.partition.node
        node = await self.partitioner.wait_for_node(disk, node)
        step(State.FORMATTING)
        await self.prober.check_formattable(node)
        log.info("formatting %s as %s", node, fstype)
        await self.runner.run(mkfs_argv(fstype, node), timeout=MKFS_TIMEOUT)
        return node, fstype

    async def _mount(self, disk: Path, device: Path, fstype: str, mount_point: Path) -> None:
        options = self.config.resource_disk_mount_options
        try:
            await self.activator.mount(device, fstype, options, mount_point)
        except Failed as exc:
            log.warning("mount %s failed (%s); retrying once", device, exc)
            await self.partitioner.update_kernel(disk)
            await self.activator.mount(device, fstype, options, mount_point)
        log.info("mounted %s (%s) at %s", device, fstype, mount_point)
