"""DHCP routes (§10.10) in a VM namespace: a real dhclient gets its lease from the fabric's DHCP
server and configures only the address; netd adds the lease's routes, so the VM reaches the
WireServer through them. Over the bus too: ApplyDhcpRoutes, the Dhcp* properties, `waagent status`."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.dhcp import dhclient, dhcp_fabric, missing_for_dhcp
from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.harness.wait import wait_for
from waagent.common.config import AgentConfig
from waagent.common.names import NETWORK
from waagent.common.root import Root
from waagent.fabric.network import FabricNetwork
from waagent.netd.build import build_service
from waagent.netd.dhcp_routes import RECORD

from .netns import NetnsRunner

pytestmark = pytest.mark.skipif(missing_for_dhcp() is not None, reason=missing_for_dhcp() or "")

LEASE = "var/lib/dhcp/dhclient.eth0.leases"
ADDED = (
    "168.63.129.16/32 via 10.0.0.1",
    "169.254.169.254/32 via 10.0.0.1",
    "10.99.0.0/16 via 10.0.0.1",
    "0.0.0.0/0 via 10.0.0.1",
)
VERSIONS = """
import urllib.request
print(urllib.request.urlopen("http://168.63.129.16/?comp=versions", timeout=5).status)
"""


def routes(network: FabricNetwork) -> dict[str, str | None]:
    listed = json.loads(network.run_in_vm(["ip", "-4", "-json", "route"]).stdout)
    return {entry["dst"]: entry.get("gateway") for entry in listed}


def test_netd_adds_the_routes_the_client_left_out_and_the_vm_reaches_the_fabric(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    with dhcp_fabric(tmp_path) as (network, _fabric):
        dhclient(network, tmp_path / "client", "vm", lease=root / LEASE, configure_address=True)
        assert network.route(network.vm_ns, "168.63.129.16") is None  # the client added none
        service = build_service(AgentConfig(), Root(root), NetnsRunner(network.vm_ns))
        record = asyncio.run(service.apply_dhcp_routes())
        assert (record.lease, record.added, record.failed) == (f"/{LEASE}", ADDED, ())
        assert routes(network) == {
            "default": "10.0.0.1",
            "10.0.0.0/24": None,
            "10.99.0.0/16": "10.0.0.1",
            "168.63.129.16": "10.0.0.1",
            "169.254.169.254": "10.0.0.1",
        }
        answer = network.run_in_vm(["/usr/bin/python3", "-c", VERSIONS], check=False)
        assert answer.stdout.strip() == "200", answer.stderr
        assert service.status.dhcp_routes_added == list(ADDED)
        assert json.loads((root / RECORD.lstrip("/")).read_text())["added"] == list(ADDED)
        # Again: everything is there, nothing is added, nothing fails.
        again = asyncio.run(service.apply_dhcp_routes())
        assert (again.added, again.failed, again.wanted) == ((), (), record.wanted)


def test_routes_already_there_are_left_as_they_are(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with dhcp_fabric(tmp_path) as (network, fabric):
        fabric.client.set_dhcp(routes=[{"destination": "10.99.0.0/16", "gateway": "10.0.0.1"}])
        dhclient(network, tmp_path / "client", "vm", lease=root / LEASE, configure_address=True)
        # The admin's own default route, through another gateway of the subnet.
        network.run_in_vm(["ip", "route", "add", "default", "via", "10.0.0.7"])
        service = build_service(AgentConfig(), Root(root), NetnsRunner(network.vm_ns))
        record = asyncio.run(service.apply_dhcp_routes())
        # 168.63.129.16 and IMDS are reachable through the default route: no host routes.
        assert record.added == ("10.99.0.0/16 via 10.0.0.1",)
        assert routes(network)["default"] == "10.0.0.7"


def test_a_gateway_off_the_subnet_fails_with_the_reason_and_the_rest_is_added(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    with dhcp_fabric(tmp_path) as (network, fabric):
        fabric.client.set_dhcp(
            routes=[
                {"destination": "10.98.0.0/16", "gateway": "192.0.2.1"},
                {"destination": "10.99.0.0/16", "gateway": "10.0.0.1"},
            ]
        )
        dhclient(network, tmp_path / "client", "vm", lease=root / LEASE, configure_address=True)
        service = build_service(AgentConfig(), Root(root), NetnsRunner(network.vm_ns))
        record = asyncio.run(service.apply_dhcp_routes())
        (failure,) = record.failed
        assert failure.startswith("10.98.0.0/16 via 192.0.2.1: ")
        assert "10.99.0.0/16 via 10.0.0.1" in record.added
        assert "10.98.0.0/16" not in routes(network)


# -- over the bus -----------------------------------------------------------------------------

N = (NETWORK.name, NETWORK.path, NETWORK.interface)


@pytest.fixture
def leased(tmp_path: Path) -> Iterator[FabricNetwork]:
    with dhcp_fabric(tmp_path) as (network, _fabric):
        yield network


@pytest.fixture
def system(leased: FabricNetwork, tmp_path: Path) -> Iterator[Environment]:
    environment = Environment(polkit=False, activatable=False)
    with environment:
        root = environment.sandbox.root
        dhclient(leased, tmp_path / "client", "vm", lease=root / LEASE, configure_address=True)
        argv = environment.service_argv(NETWORK.program)
        environment.bus.add_service(
            NETWORK.name,
            [shutil.which("ip") or "/usr/sbin/ip", "netns", "exec", leased.vm_ns, *argv],
        )
        yield environment


@pytest.mark.integration
def test_apply_over_the_bus_shows_the_routes_in_properties_and_status(
    system: Environment, leased: FabricNetwork
) -> None:
    assert system.busctl.get_property(*N, "DhcpRoutesAdded") == []
    refused = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "busctl", "call", *N,
         "ApplyDhcpRoutes"],
        env=system.bus.env(), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert leased.route(leased.vm_ns, "168.63.129.16") is None
    reply = system.busctl.call(*N, "ApplyDhcpRoutes")
    assert reply.ok, reply.error
    assert system.busctl.get_property(*N, "DhcpLease") == f"/{LEASE}"
    assert system.busctl.get_property(*N, "DhcpRoutesAdded") == list(ADDED)
    assert system.busctl.get_property(*N, "DhcpRoutesFailed") == []
    status = subprocess.run(
        [PYTHON, "-m", "waagent.cli", "status", f"-configuration-path:{system.sandbox.config_path}",
         f"-root:{system.sandbox.root}"],
        env={**system.bus.env(), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = {line.split()[0]: line.split(None, 1)[1] for line in status.stdout.splitlines()[1:]
             if line.startswith("    ") and len(line.split()) > 1}  # fmt: skip
    assert lines["DhcpLease"] == f"/{LEASE}", status.stdout
    assert lines["DhcpRoutesAdded"] == ", ".join(ADDED)


@pytest.mark.integration
def test_a_running_netd_shows_what_the_routes_unit_applied_in_a_process_of_its_own(
    system: Environment, leased: FabricNetwork
) -> None:
    assert system.busctl.get_property(*N, "DhcpRoutesAdded") == []  # netd is up, nothing yet
    argv = [*system.service_argv(NETWORK.program), "--apply-dhcp-routes"]
    unit = subprocess.run(
        ["ip", "netns", "exec", leased.vm_ns, *argv],
        env=system.bus.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unit.returncode == 0, unit.stderr
    wait_for(
        lambda: system.busctl.get_property(*N, "DhcpRoutesAdded") == list(ADDED),
        timeout=15,
        what="the running netd to read the unit's record",
    )
