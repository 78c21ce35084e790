"""waagent-wire: the only process that talks to the Azure fabric (org.waagent.Wire1)."""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from .. import AGENT_NAME, AGENT_VERSION
from ..common.bus import ServiceContext, service_main
from ..common.bus.client import call, start_service
from ..common.clients.provisioner import ProvisionerClient
from ..common.commands import Runner
from ..common.errors import WaagentError
from ..common.names import EXTENSIONS, WIRE
from .agent import Callbacks, Wire
from .bus import WireInterface
from .connection import Clients
from .download import BUDGET as DOWNLOAD_BUDGET
from .handover import Handover
from .heartbeats import Periods
from .hostname_watch import HostnameWatch
from .http import FabricHttp, IOErrorCounter
from .poller_state import PollerHandoff
from .provisioning_gate import ProvisioningGate
from .remote_access import RemoteAccessDelivery

log = logging.getLogger(__name__)

HEADERS = {"User-Agent": f"{AGENT_NAME}/{AGENT_VERSION}", "Accept-Encoding": "identity"}
EXTD_TIMEOUT = 120.0
KEEPALIVE_MARGIN = 10.0


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def fabric_client(poll_period: float) -> httpx.AsyncClient:
    # WireServer, HostGAPlugin and IMDS: plain HTTP, never a proxy, no CA store to load (an
    # https URL here would fail verification, which is the safe outcome). The connection must
    # outlive one poll period, or httpx's 5 s default closes it before every 6 s poll.
    return httpx.AsyncClient(
        trust_env=False,
        headers=HEADERS,
        verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        limits=httpx.Limits(keepalive_expiry=poll_period + KEEPALIVE_MARGIN),
    )


class StorageClients:
    """One client per proxy, created on first use (the system CA store loads only then)."""

    def __init__(
        self, max_deadline: float | None = None, io_errors: IOErrorCounter | None = None
    ) -> None:
        self._clients: dict[str | None, FabricHttp] = {}
        self._max_deadline = max_deadline
        self._io_errors = io_errors  # shared with the fabric's client: one HttpErrors report

    def __call__(self, proxy: str | None) -> FabricHttp:
        if proxy not in self._clients:
            client = httpx.AsyncClient(
                trust_env=False, proxy=proxy, headers=HEADERS, verify=ssl.create_default_context()
            )
            self._clients[proxy] = FabricHttp(
                client, max_deadline=self._max_deadline, io_errors=self._io_errors
            )
        return self._clients[proxy]


async def setup(ctx: ServiceContext) -> None:
    interface: WireInterface | None = None
    wire: Wire | None = None

    async def hand_over() -> None:
        """Hand extd the newest goal state (bus-activating it); its reply acknowledges it."""
        handover = await wire.next_handover() if wire is not None else None
        if handover is not None:
            await call(
                ctx.bus,
                EXTENSIONS,
                "ProcessGoalState",
                "s",
                [handover.model_dump_json()],
                timeout=EXTD_TIMEOUT,
            )

    handover = Handover(hand_over)
    ctx.on_exit(handover.close)

    async def start_extd() -> None:
        # Best effort: the hand-over activates extd anyway; this only starts it sooner.
        try:
            await start_service(ctx.bus, EXTENSIONS.name, timeout=EXTD_TIMEOUT)
        except WaagentError as exc:
            log.debug("extd not started ahead of the hand-over: %s", exc)

    def extensions_coming() -> None:
        ctx.spawn(start_extd(), "start extd")

    provisioner = ProvisionerClient(ctx.bus)
    remote_access = RemoteAccessDelivery(provisioner.apply_remote_access)
    ctx.on_exit(remote_access.close)
    provisioning = ProvisioningGate(provisioner.state)
    ctx.on_exit(provisioning.close)

    def goal_state_changed(incarnation: str, egs_id: str) -> None:
        if interface is not None:
            interface.GoalStateChanged(incarnation, egs_id)

    def properties_changed() -> None:
        if interface is not None:
            interface.status_changed()

    deadline: float | None = ctx.args.request_deadline
    fabric = FabricHttp(
        fabric_client(ctx.config.extensions_goal_state_period), max_deadline=deadline
    )
    wire = Wire(
        ctx.root,
        ctx.config,
        Clients(fabric, StorageClients(deadline, fabric.io_errors)),
        Runner(),
        callbacks=Callbacks(
            properties_changed,
            goal_state_changed,
            handover.notify,
            extensions_coming,
            remote_access_changed=remote_access.notify,
        ),
        route_table=Path(ctx.args.route_table),
        download_budget=ctx.args.download_budget,
        heartbeat_periods=Periods.scaled(ctx.args.heartbeat_period),
        provisioning=provisioning,
    )
    await wire.start()
    if ctx.args.with_poller:
        # The poller polls while wire is gone: wire takes the lock and its timers, leaves them
        # back at exit, and stays while it has work of its own (`poller_state.py`).
        handoff = PollerHandoff(wire, ctx.root.resolve(wire.files.directory), remote_access)
        await handoff.take_over()
        ctx.on_exit(handoff.hand_back)
        ctx.activity.add_busy_check(lambda: handover.pending() or handoff.busy())
    interface = WireInterface(wire)
    ctx.export(WIRE.path, interface)
    ctx.spawn(wire.run(), "goal state loop")
    if ctx.config.provisioning_monitor_host_name:
        watch = HostnameWatch(provisioner.keep_hostname)
        ctx.on_exit(watch.close)
        watch.start()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--route-table",
        default="/proc/net/route",
        help="the kernel route table to look for a WireServer route in (default: %(default)s)",
    )
    parser.add_argument(
        "--request-deadline",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="cap every fabric request's total time, retries included (default: each request's "
        "own budget, 20 s for a goal-state poll, at most 300 s)",
    )
    parser.add_argument(
        "--download-budget",
        type=positive_seconds,
        default=DOWNLOAD_BUDGET,
        metavar="SECONDS",
        help="the wall-clock budget of one Download, all URIs and channels (default: %(default)g)",
    )
    parser.add_argument(
        "--heartbeat-period",
        type=positive_seconds,
        default=Periods.check,
        metavar="SECONDS",
        help="the heartbeats' period (HostGAPlugin, IMDS, HealthService); the thresholds (5 and "
        "3 periods) and the telemetry heartbeat (30 periods) scale with it (default: %(default)g)",
    )
    parser.add_argument(
        "--with-poller",
        action="store_true",
        help="exit when idle and leave the polling to waagent-wirepoll (docs/wire.md)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    # Resident unless the poller does the idle work (then it exits when idle, like the others).
    resident = "--with-poller" not in (sys.argv[1:] if argv is None else argv)
    return service_main(
        WIRE, [WireInterface], setup, argv, resident=resident, add_arguments=add_arguments
    )


if __name__ == "__main__":
    sys.exit(main())
