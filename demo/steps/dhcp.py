"""The fabric's DHCP server and netd's DHCP routes, in VM network namespaces of their own.

A real dhclient in the VM namespace gets its lease (option 245, option 121 routes) from the
fabric's DHCP server and configures only the address; netd, bus-activated in that namespace,
adds the routes the client left out, and the VM reaches 168.63.129.16.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.harness.dhcp import dhclient, dhcp_fabric, missing_for_dhcp
from tests.harness.environment import Environment
from tests.harness.procs import pids_with_marker, terminate
from tests.netd.netns import netd_in_namespace
from waagent.common.names import NETWORK

from .common import heading, show

N = (NETWORK.name, NETWORK.path, NETWORK.interface)
# Not the demo's own lease (var/lib/dhcp/dhclient.eth0.leases, the fabric on loopback): removed
# at the end, so wire, which reads leases too, never takes this one's endpoint.
LEASE = "var/lib/dhcp/dhclient.demo-vm.leases"
REACH = """
import urllib.request
try:
    print(urllib.request.urlopen("http://168.63.129.16/?comp=versions", timeout=3).status)
except OSError as exc:
    print(exc)
"""


def run(env: Environment) -> None:
    heading("fabric DHCP server and netd's DHCP routes (in VM network namespaces)")
    problem = missing_for_dhcp()
    if problem:
        show("skipped", problem)
        return
    lease = env.sandbox.root / LEASE
    with (
        tempfile.TemporaryDirectory(prefix="waagent-demo-dhcp-") as work,
        dhcp_fabric(Path(work), tag="demo") as (network, fabric),
    ):
        try:
            dhclient(network, Path(work) / "client", "demo-vm", lease=lease,
                     configure_address=True)  # fmt: skip
            for line in lease.read_text().splitlines():
                if "245" in line or "classless" in line or "routers" in line:
                    show("dhclient's lease", line.strip())
            for record in fabric.client.records("dhcp"):
                show(f"fabric saw {record['message_type']} -> {record['answer']}",
                     f"hostname={record['hostname']} fqdn={record['fqdn']}")  # fmt: skip
            reach = ["/usr/bin/python3", "-c", REACH]
            before = network.run_in_vm(reach).stdout.strip()
            show("VM reaches 168.63.129.16 (no routes)", before)
            netd_in_namespace(env, network.vm_ns)
            reply = env.busctl.call(*N, "ApplyDhcpRoutes")
            show("ApplyDhcpRoutes (root)", "ok" if reply.ok else reply.error)
            for name in ("DhcpLease", "DhcpRoutesAdded", "DhcpRoutesFailed"):
                show(f"Network1 {name}", env.busctl.get_property(*N, name) or "-")
            table = json.loads(network.run_in_vm(["ip", "-4", "-json", "route"]).stdout)
            for entry in table:
                show("VM route", f"{entry['dst']} via {entry.get('gateway', '(link)')}")
            show("VM reaches 168.63.129.16", network.run_in_vm(reach).stdout.strip())
        finally:
            terminate(pids_with_marker(network.vm_ns))
            env.make_activatable(NETWORK)
            # wire (running in this demo) must not take this lease's endpoint as its own.
            lease.unlink(missing_ok=True)
