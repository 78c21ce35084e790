"""waagent-diskd: the resource disk, swap and SCSI timeouts (org.waagent.Disk1)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..common.bus import ServiceContext, service_main
from ..common.clients import systemd
from ..common.clients.systemd import Systemd
from ..common.commands import Runner
from ..common.names import DISK
from .activation import Activator, Commands, SystemdUnits
from .build import build_service
from .bus import DiskInterface


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sysfs-root", default="/sys", help="where sysfs is (default: /sys)")
    parser.add_argument("--dev-root", default="/dev", help="where device nodes are (default: /dev)")


async def setup(ctx: ServiceContext) -> None:
    args = ctx.args
    runner = Runner()
    # With systemd as PID 1, mounts and swap are its transient units (see activation.py).
    activator: Activator = (
        SystemdUnits(Systemd(ctx.bus)) if await systemd.available(ctx.bus) else Commands(runner)
    )
    service = build_service(
        ctx.config,
        ctx.root,
        runner,
        Path(args.sysfs_root),
        Path(args.dev_root),
        activator=activator,
    )
    ctx.export(DISK.path, DiskInterface(service))
    ctx.activity.add_busy_check(service.busy)
    await service.prepare()


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(DISK, [DiskInterface], setup, argv, add_arguments=add_arguments)


if __name__ == "__main__":
    sys.exit(main())
