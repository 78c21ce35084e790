"""Placement: loopback addresses with DHCP leases, and namespaces at 168.63.129.16 (issue 3, item 9)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.harness.fabric import fabric_process
from tests.harness.paths import PYTHON
from waagent.fabric.network import (
    FabricNetwork,
    allocate_loopback,
    write_dhclient_lease,
    write_networkd_lease,
)
from waagent.fabric.scenario import Scenario


def lease_endpoint(text: str) -> str:
    """Reads option 245 the way reference §2.2 describes (1-2 hex digits per byte)."""
    match = re.search(
        r"option unknown-245 ([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2});", text
    )
    assert match, text
    return ".".join(str(int(part, 16)) for part in match.groups())


def test_loopback_addresses_are_unique_and_carry_the_pid() -> None:
    first, second = allocate_loopback(), allocate_loopback()
    assert first != second
    for address in (first, second):
        octets = [int(o) for o in address.split(".")]
        assert octets[0] == 127
        assert octets[2] == os.getpid() & 0xFF
        assert address != "127.0.0.1"


def test_a_dhclient_lease_carries_option_245_and_a_future_expiry(tmp_path: Path) -> None:
    path = write_dhclient_lease(tmp_path / "var/lib/dhcp/dhclient.eth0.leases", "127.9.8.7")
    text = path.read_text()
    assert lease_endpoint(text) == "127.9.8.7"
    expire = re.search(r"expire \d (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d);", text)
    assert expire is not None
    assert datetime.strptime(expire.group(1), "%Y/%m/%d %H:%M:%S").replace(
        tzinfo=UTC
    ) > datetime.now(UTC)


def test_the_wireserver_address_is_written_as_dhclient_does(tmp_path: Path) -> None:
    text = write_dhclient_lease(tmp_path / "lease", "168.63.129.16", expire="never").read_text()
    assert "option unknown-245 a8:3f:81:10;" in text
    assert "expire never;" in text


def test_a_networkd_lease_carries_option_245_as_eight_hex_digits(tmp_path: Path) -> None:
    text = write_networkd_lease(
        tmp_path / "run/systemd/netif/leases/2", "168.63.129.16"
    ).read_text()
    assert "OPTION_245=a83f8110\n" in text
    assert socket.inet_ntoa(bytes.fromhex("a83f8110")) == "168.63.129.16"


def _namespace_support() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs ip (iproute2)"
    return None


needs_namespaces = pytest.mark.skipif(
    _namespace_support() is not None, reason=_namespace_support() or ""
)

VM_CLIENT = """
import json, httpx, defusedxml.ElementTree as ET
versions = httpx.get("http://168.63.129.16/?comp=versions", timeout=10)
imds = httpx.get("http://169.254.169.254/metadata/instance?api-version=2021-02-01", headers={"Metadata": "true"}, timeout=10)
print(json.dumps({
    "status": versions.status_code,
    "preferred": ET.fromstring(versions.content).findtext("Preferred/Version"),
    "vm_id": imds.json()["compute"]["vmId"],
}))
"""


@needs_namespaces
def test_the_fabric_at_168_63_129_16_answers_a_client_in_the_vm_namespace(tmp_path: Path) -> None:
    with FabricNetwork() as network:
        names = (network.fabric_ns, network.vm_ns)
        assert network.namespaces() == list(names)
        with fabric_process(
            tmp_path / "fabric",
            address=network.wireserver,
            extra_args=["--imds-listen", network.imds],
            popen=network.popen_in_fabric,
        ) as fabric:
            answer = json.loads(network.run_in_vm([PYTHON, "-c", VM_CLIENT]).stdout)
            assert answer == {
                "status": 200,
                "preferred": "2012-11-30",
                "vm_id": Scenario.default().identity.vm_id,
            }
            versions = [r for r in fabric.client.requests() if r.endpoint == "versions"]
            assert versions and versions[0].status == 200
        process_gone = fabric.process.poll() is not None
    assert process_gone
    assert network.namespaces() == []


@needs_namespaces
def test_only_the_fabric_addresses_route_from_the_vm_namespace() -> None:
    with FabricNetwork() as network:
        for address in (network.wireserver, network.imds):
            assert f"dev {network.vm_veth}" in (network.route(network.vm_ns, address) or "")
        assert network.route(network.vm_ns, "8.8.8.8") is None
        assert network.route(network.fabric_ns, "8.8.8.8") is None
        host_route = network.route(network.vm_ns, "192.0.2.1")
        assert host_route is None


@needs_namespaces
def test_the_namespaces_are_removed_even_when_the_block_fails() -> None:
    network = FabricNetwork()
    with pytest.raises(RuntimeError, match="boom"), network:
        raise RuntimeError("boom")
    assert network.namespaces() == []
