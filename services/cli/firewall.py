"""`waagent -setup-firewall=<ip>`: the classic verb, the WireServer firewall for that address.

It asks netd (`Network1.SetupFirewall`, root only), so the service's properties follow. Where
no bus answers (early boot, a host without systemd or dbus) root runs netd's own code in this
process, as the boot unit does. Status 1 on failure, as classic.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from ..common.bus.client import ServiceUnavailable, call, connect_system_bus
from ..common.commands import Runner
from ..common.config import AgentConfig
from ..common.errors import WaagentError
from ..common.names import NETWORK
from ..common.root import Root
from ..netd.boot import setup_firewall
from ..netd.build import build_service
from ..netd.rules import parse_endpoint

# firewall-cmd may wait for firewalld; nft and iptables answer at once.
SETUP_TIMEOUT = 120.0


async def _over_bus(endpoint: str) -> None:
    bus = await connect_system_bus()
    try:
        await call(bus, NETWORK, "SetupFirewall", "s", [endpoint], timeout=SETUP_TIMEOUT)
    finally:
        bus.disconnect()


def run(endpoint: str, root: Root, config: AgentConfig, *, stderr: TextIO = sys.stderr) -> int:
    try:
        parse_endpoint(endpoint)
        asyncio.run(_over_bus(endpoint))
    except (OSError, ServiceUnavailable) as exc:
        if os.geteuid() != 0:
            stderr.write(f"waagent: -setup-firewall needs root ({exc})\n")
            return 1
    except WaagentError as exc:
        stderr.write(f"waagent: {exc.message}\n")
        return 1
    else:
        return 0
    # No bus, or netd cannot be activated: the same code, here.
    return asyncio.run(setup_firewall(build_service(config, root, Runner()), endpoint))
