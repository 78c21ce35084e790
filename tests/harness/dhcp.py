"""The fabric's DHCP server in network namespaces, and a real ISC dhclient against it.

    with dhcp_fabric(tmp_path) as (network, fabric):     # FabricNetwork(dhcp=True) + serve
        lease = dhclient(network, tmp_path / "client", "vm-name")

Everything is stopped with the namespaces, by PID, also when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.harness.fabric import FabricProcess, fabric_process
from tests.harness.wait import wait_for
from waagent.fabric.network import FabricNetwork
from waagent.fabric.scenario import Scenario

DHCLIENT_CONF = """
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
option ms-classless-static-routes code 249 = array of unsigned integer 8;
send host-name "{hostname}";
send fqdn.fqdn "{hostname}.example.";
request subnet-mask, routers, domain-name-servers, domain-name, dhcp-lease-time,
        rfc3442-classless-static-routes, ms-classless-static-routes;
"""

# A client that configures the address it was given and nothing else (no route): what netd's
# DHCP routes are for.
ADDRESS_ONLY_SCRIPT = """#!/bin/sh
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
    ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
"""


def missing_for_dhcp() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, UDP port 67)"
    for tool in ("ip", "dhclient"):
        if shutil.which(tool) is None:
            return f"needs {tool} (deps/apt/fabric.txt)"
    return None


@contextlib.contextmanager
def dhcp_fabric(
    workdir: Path, scenario: Scenario | None = None, tag: str = "dh"
) -> Iterator[tuple[FabricNetwork, FabricProcess]]:
    with (
        FabricNetwork(tag, dhcp=True) as network,
        fabric_process(
            workdir / "fabric",
            None,
            scenario,
            address=network.wireserver,
            extra_args=["--imds-listen", network.imds, "--dhcp-interface", network.fabric_veth],
            popen=network.popen_in_fabric,
        ) as fabric,
    ):
        yield network, fabric


def dhclient(
    network: FabricNetwork,
    work: Path,
    hostname: str,
    *,
    lease: Path | None = None,
    configure_address: bool = False,
) -> Path:
    """A real ISC dhclient in the VM namespace, in the foreground; its script configures nothing
    (or only the address): the lease file is what it got. Returns the lease file once written."""
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "dhclient.conf"
    conf.write_text(DHCLIENT_CONF.format(hostname=hostname))
    script = Path("/bin/true")
    if configure_address:
        script = work / "address-only"
        script.write_text(ADDRESS_ONLY_SCRIPT)
        script.chmod(0o755)
    lease = lease or work / "dhclient.leases"
    lease.parent.mkdir(parents=True, exist_ok=True)
    with (work / "dhclient.log").open("wb") as log:
        network.popen_in_vm(
            ["dhclient", "-d", "-4", "-cf", str(conf), "-lf", str(lease), "-pf",
             str(work / "pid"), "-sf", str(script), network.vm_veth],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for(
        lambda: lease.exists() and "unknown-245" in lease.read_text(),
        timeout=30,
        what="dhclient to write its lease",
    )
    if configure_address:
        wait_for(
            lambda: "10.0.0.4/" in network.run_in_vm(["ip", "-4", "addr"]).stdout,
            timeout=10,
            what="the leased address on the interface",
        )
    return lease
