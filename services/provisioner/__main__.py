"""waagent-provisioner: provisioning and deprovisioning (org.waagent.Provisioner1)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..common.bus import ServiceContext, service_main
from ..common.clients.hostname import HostnameClient
from ..common.clients.network import NetworkClient
from ..common.clients.systemd import Systemd
from ..common.clients.wire import WireClient
from ..common.commands import Runner
from ..common.names import PROVISIONER
from .build import build_provisioner
from .bus import ProvisionerInterface


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dev-root", default="/dev", help="where the DVD device is looked for (default: /dev)"
    )
    parser.add_argument(
        "--sysfs-root", default="/sys", help="where sysfs is, for product_uuid (default: /sys)"
    )


async def setup(ctx: ServiceContext) -> None:
    systemd = Systemd(ctx.bus)
    provisioner = build_provisioner(
        ctx.config,
        ctx.root,
        Runner(),
        wire=WireClient(ctx.bus),
        units=systemd,
        hostname_service=HostnameClient(ctx.bus),
        network=NetworkClient(ctx.bus),
        dev_root=Path(ctx.args.dev_root),
        sysfs_root=Path(ctx.args.sysfs_root),
        transient=systemd,
    )
    ctx.export(PROVISIONER.path, ProvisionerInterface(provisioner))
    ctx.activity.add_busy_check(provisioner.busy)
    # Before the name is taken: a boot run holds the job lock before any call is dispatched.
    provisioner.prepare()
    ctx.ready_when(provisioner.settled.wait)


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        PROVISIONER, [ProvisionerInterface], setup, argv, add_arguments=add_arguments
    )


if __name__ == "__main__":
    sys.exit(main())
