"""`python -m waagent.netd --setup-firewall[=<endpoint>]`: the rules without the bus.

What `waagent-network-setup.service` runs at boot, before the network is up (and perhaps before
the bus), and again when the endpoint file changes or the host's rule set is reloaded: the
counterpart of the classic `waagent-network-setup.py`. Without an endpoint argument it uses the
one wire last found and does nothing when OS.EnableFirewall=n or no endpoint is known yet; a host
without any firewall tool is warned about, not failed (only an explicit endpoint fails then).
"""

from __future__ import annotations

import logging

from ..common.errors import NotSupported, WaagentError
from .rules import parse_endpoint
from .service import NetworkService
from .telemetry import PERSIST_FIREWALL_RULES

log = logging.getLogger(__name__)


async def _persisted(service: NetworkService, error: WaagentError | None) -> None:
    """Classic's PersistFirewallRules event: these runs are what persist the rules here."""
    message = (
        "Persistent firewall rules setup successfully"
        if error is None
        else f"Unable to setup the persistent firewall rules: {error.message}"
    )
    await service.telemetry.send(PERSIST_FIREWALL_RULES, error is None, message)


async def setup_firewall(service: NetworkService, endpoint_text: str | None) -> int:
    """The exit status: 0 when the rules are in place (or nothing is to be done), 1 if not."""
    try:
        if endpoint_text:
            endpoint = parse_endpoint(endpoint_text)
        elif not service.config.os_enable_firewall:
            log.info("OS.EnableFirewall=n: no WireServer firewall")
            return 0
        else:
            known = service.known_endpoint()
            if known is None:
                log.info(
                    "no WireServer endpoint known yet (%s): nothing to do", service.endpoint_file
                )
                return 0
            endpoint = known
        await service.setup_firewall(endpoint)
    except NotSupported as exc:
        await _persisted(service, exc)
        if endpoint_text:
            log.error("cannot set up the WireServer firewall: %s", exc.message)
            return 1
        # A host without nft, iptables or firewalld boots anyway (not as a failed unit); the
        # admin sees FirewallState=error and why in `waagent status`.
        log.warning("no WireServer firewall: %s", exc.message)
        return 0
    except WaagentError as exc:
        await _persisted(service, exc)
        log.error("cannot set up the WireServer firewall: %s", exc.message)
        return 1
    await _persisted(service, None)
    status = service.status
    log.info(
        "WireServer firewall for %s: %s (%s)",
        status.endpoint,
        status.firewall_state,
        status.backend,
    )
    return 0
