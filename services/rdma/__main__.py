"""waagent-rdma: set RDMA up once at boot (waagent-rdma.service), then exit.

Exit status 0 when every step is done or skipped (RDMA off, no module, no dat.conf), 1 when
one failed (each step is logged, as classic logs RDMA errors), 78 for a bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ..common.bus.client import connect_system_bus
from ..common.bus.service import EX_CONFIG, configured
from ..common.clients.network import NetworkClient
from ..common.clients.wire import WireClient
from ..common.commands import Runner
from ..common.config import AgentConfig
from ..common.root import Root
from .setup import OFF, RdmaSetup, Step, enabled


async def run(config: AgentConfig, root: Root) -> int:
    if not enabled(config):
        print(Step("rdma", "skipped", OFF))  # without touching the bus
        return 0
    bus = await connect_system_bus()
    try:
        setup = RdmaSetup(config, root, Runner(), WireClient(bus), NetworkClient(bus))
        steps = await setup.run()
    finally:
        bus.disconnect()
    for step in steps:
        print(step)
    return 1 if any(step.state == "failed" for step in steps) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waagent-rdma")
    parser.add_argument("--root", default="/", help="directory treated as / (default: /)")
    parser.add_argument("--config", help="configuration file (default: <root>/etc/waagent.conf)")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    root = Root(args.root)
    loaded = configured("rdma", root, args)
    if loaded is None:
        return EX_CONFIG
    return asyncio.run(run(loaded.config, root))


if __name__ == "__main__":
    sys.exit(main())
