"""waagent-netd: the WireServer firewall, DHCP routes and hostname publishing
(org.waagent.Network1), or, with --setup-firewall, the rules applied once without the bus (the
boot unit), or, with --apply-dhcp-routes, the active lease's missing routes added once
(waagent-dhcp-routes.service)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from ..common.bus import ServiceContext, service_main
from ..common.bus.service import EX_CONFIG, argument_parser, configured
from ..common.commands import Runner
from ..common.names import NETWORK
from ..common.root import Root
from .boot import setup_firewall
from .build import build_service
from .bus import NetworkInterface
from .dhcp_routes import apply_dhcp_routes
from .telemetry import RunningWire, Telemetry

SETUP = "--setup-firewall"
ROUTES = "--apply-dhcp-routes"


async def setup(ctx: ServiceContext) -> None:
    service = build_service(ctx.config, ctx.root, Runner(), ctx.bus)
    ctx.export(NETWORK.path, NetworkInterface(service))
    ctx.activity.add_busy_check(service.busy)
    # Kept for the process's life: the boot and refresh units' changes reach the properties.
    service.watch_changes()
    await service.refresh()


def boot_main(argv: Sequence[str]) -> int:
    parser = argument_parser("waagent-netd")
    once = parser.add_mutually_exclusive_group(required=True)
    once.add_argument(
        SETUP,
        nargs="?",
        const=None,
        default=False,
        metavar="ENDPOINT",
        help="apply the rules (for ENDPOINT, else the one wire found) and exit",
    )
    once.add_argument(ROUTES, action="store_true", help="add the DHCP lease's missing routes")
    args = parser.parse_args(argv)
    root = Root(args.root)
    loaded = configured(NETWORK.program, root, args)
    if loaded is None:
        return EX_CONFIG
    service = build_service(loaded.config, root, Runner(), telemetry=Telemetry(RunningWire()))
    if args.apply_dhcp_routes:
        return asyncio.run(apply_dhcp_routes(service))
    return asyncio.run(setup_firewall(service, args.setup_firewall or ""))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg in (SETUP, ROUTES) or arg.startswith(SETUP + "=") for arg in argv):
        return boot_main(argv)
    return service_main(NETWORK, [NetworkInterface], setup, argv)


if __name__ == "__main__":
    sys.exit(main())
