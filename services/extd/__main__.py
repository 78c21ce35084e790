"""waagent-extd: VM extension handlers (org.waagent.Extensions1)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ..common.bus import ServiceContext, service_main
from ..common.clients import systemd
from ..common.clients.wire import WireClient
from ..common.names import EXTENSIONS
from .build import build_service
from .bus import ExtensionObject, ExtensionsInterface, Objects
from .units import TransientServices

log = logging.getLogger(__name__)


async def setup(ctx: ServiceContext) -> None:
    running = await systemd.running(ctx.bus)
    launcher = TransientServices(ctx.bus, limits=ctx.config.cgroups_enabled) if running else None
    log.info(
        "extension commands run %s%s",
        "as transient services of systemd" if launcher else "as child processes",
        "" if ctx.config.cgroups_enabled else " (CGroups.Enabled=n: no per-extension limits)",
    )
    service = build_service(
        ctx.config,
        ctx.root,
        WireClient(ctx.bus),
        launcher=launcher,
        config_path=ctx.loaded.path,
        path_units=launcher.systemd if launcher else None,
    )
    root = ExtensionsInterface(service)
    ctx.export(EXTENSIONS.path, root)
    service.listeners.append(Objects(ctx, service, root))
    ctx.activity.add_busy_check(service.busy)
    ctx.on_exit(service.shutdown)
    await service.start()


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(EXTENSIONS, [ExtensionsInterface, ExtensionObject], setup, argv)


if __name__ == "__main__":
    sys.exit(main())
