"""The fabric's DHCP server (issue 15, item 8): a real dhclient in the VM namespace gets its lease
with option 245 and option 121 routes, and the server records what each client sent."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.fabric import FabricProcess, fabric_process
from tests.harness.wait import wait_for
from waagent.fabric.dhcp import DhcpSettings
from waagent.fabric.dhcp_packet import (
    HEADER,
    MAGIC,
    BadPacket,
    Message,
    classless_routes,
    parse,
)
from waagent.fabric.network import FabricNetwork
from waagent.fabric.scenario import Scenario, ScenarioError

MAC = bytes.fromhex("000d3a2b4c5d")


def client_packet(message: int, *options: tuple[int, bytes], end: bool = True) -> bytes:
    header = HEADER.pack(
        1, 1, 6, 0, 0x1234ABCD, 0, 0, bytes(4), bytes(4), bytes(4), bytes(4),
        MAC + bytes(10), b"", b"",
    )  # fmt: skip
    body = bytes([53, 1, message])
    for code, value in options:
        body += bytes([code, len(value)]) + value
    return header + MAGIC + body + (b"\xff" if end else b"")


def test_a_discover_is_parsed_with_its_host_name_and_fqdn() -> None:
    fqdn = bytes([0x05, 0, 0]) + b"\x02vm\x07example\x00"
    request = parse(client_packet(1, (12, b"vm-one"), (81, fqdn), (61, b"\x01" + MAC)))
    assert request.message == Message.DISCOVER
    assert request.mac == "00:0d:3a:2b:4c:5d"
    assert request.text_option(12) == "vm-one"
    assert request.fqdn() == (0x05, "vm.example")
    assert request.options[61].hex() == "01000d3a2b4c5d"


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"\x01" * 100, "size"),
        (client_packet(1)[:239], "size"),
        (b"\x02" + client_packet(1)[1:], "BOOTREQUEST"),
        (client_packet(1)[:1] + b"\x06" + client_packet(1)[2:], "Ethernet"),
        (client_packet(1).replace(MAGIC, b"\0\0\0\0"), "cookie"),
        (client_packet(1, end=False), "end marker"),
        (client_packet(1, end=False) + b"\x0c\x20abc", "past the end"),
        (client_packet(9), "message type"),
        (client_packet(1).replace(b"\x35\x01\x01", b"\x0c\x01x"), "message type"),
    ],
)
def test_malformed_packets_are_refused_with_a_reason(packet: bytes, reason: str) -> None:
    with pytest.raises(BadPacket, match=reason):
        parse(packet)


def test_classless_routes_are_encoded_as_rfc_3442_says() -> None:
    # RFC 3442 section 3's examples: 0/0, 10.0.0.0/8, 10.17.0.0/16, 192.168.1.1/32 (hosts).
    encoded = classless_routes(
        [
            ("0.0.0.0/0", "10.0.0.1"),
            ("10.0.0.0/8", "10.0.0.1"),
            ("10.17.0.0/16", "10.0.0.1"),
            ("168.63.129.16/32", "10.0.0.1"),
        ]
    )
    assert encoded.hex() == (
        "00" "0a000001" "080a" "0a000001" "100a11" "0a000001" "20a83f8110" "0a000001"
    )  # fmt: skip


def test_a_scenario_sets_the_lease_and_refuses_bad_addresses() -> None:
    scenario = Scenario.from_dict({"dhcp": {"lease_time": 120, "endpoint": "10.9.8.7"}})
    assert scenario.dhcp.lease_time == 120
    assert dict(scenario.dhcp.options())[245] == socket.inet_aton("10.9.8.7")
    with pytest.raises(ScenarioError, match="dhcp.routes.0.destination"):
        Scenario.from_dict({"dhcp": {"routes": [{"destination": "10.0.0.300/8", "gateway": "1"}]}})
    assert DhcpSettings().routes[0].destination == "168.63.129.16/32"
    without = dict(Scenario.from_dict({"dhcp": {"endpoint": "", "router": ""}}).dhcp.options())
    assert 245 not in without and 3 not in without and 121 in without


# -- a real exchange in network namespaces ---------------------------------------------------


def _support() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, UDP port 67)"
    for tool in ("ip", "dhclient"):
        if shutil.which(tool) is None:
            return f"needs {tool} (deps/apt/fabric.txt)"
    return None


needs_dhcp = pytest.mark.skipif(_support() is not None, reason=_support() or "")

DHCLIENT_CONF = """
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
option ms-classless-static-routes code 249 = array of unsigned integer 8;
send host-name "{hostname}";
send fqdn.fqdn "{hostname}.example.";
request subnet-mask, routers, domain-name-servers, domain-name, dhcp-lease-time,
        rfc3442-classless-static-routes, ms-classless-static-routes;
"""


@contextlib.contextmanager
def dhcp_fabric(
    tmp_path: Path, scenario: Scenario | None = None
) -> Iterator[tuple[FabricNetwork, FabricProcess]]:
    with (
        FabricNetwork(dhcp=True) as network,
        fabric_process(
            tmp_path / "fabric",
            None,
            scenario,
            address=network.wireserver,
            extra_args=["--imds-listen", network.imds, "--dhcp-interface", network.fabric_veth],
            popen=network.popen_in_fabric,
        ) as fabric,
    ):
        yield network, fabric


def dhclient(network: FabricNetwork, work: Path, hostname: str) -> Path:
    """A real ISC dhclient in the VM namespace, in the foreground, with a script that configures
    nothing: the lease file is what it got. Stopped with the namespaces."""
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "dhclient.conf"
    conf.write_text(DHCLIENT_CONF.format(hostname=hostname))
    lease = work / "dhclient.leases"
    network.popen_in_vm(
        ["dhclient", "-d", "-4", "-cf", str(conf), "-lf", str(lease), "-pf", str(work / "pid"),
         "-sf", "/bin/true", network.vm_veth],
        stdout=(work / "dhclient.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_for(lambda: lease.exists() and "unknown-245" in lease.read_text(), timeout=30,
             what="dhclient to write its lease")  # fmt: skip
    return lease


@needs_dhcp
def test_a_real_dhclient_gets_the_vm_lease_and_the_server_records_its_names(
    tmp_path: Path,
) -> None:
    with dhcp_fabric(tmp_path) as (network, fabric):
        text = dhclient(network, tmp_path / "client", "vm-from-dhclient").read_text()
        assert "fixed-address 10.0.0.4;" in text
        assert "option unknown-245 a8:3f:81:10;" in text
        assert "option routers 10.0.0.1;" in text
        # 168.63.129.16/32, 169.254.169.254/32, 10.99.0.0/16, all via 10.0.0.1 (RFC 3442).
        assert (
            "option rfc3442-classless-static-routes 32,168,63,129,16,10,0,0,1,"
            "32,169,254,169,254,10,0,0,1,16,10,99,10,0,0,1;"
        ) in text
        assert "ms-classless-static-routes" not in text  # 249 only when asked for
        records = fabric.client.records("dhcp")
        kinds = [(r["message_type"], r["answer"]) for r in records]
        assert kinds[:2] == [("DISCOVER", "OFFER"), ("REQUEST", "ACK")]
        mac = network.run_in_vm(["cat", f"/sys/class/net/{network.vm_veth}/address"])
        for record in records[:2]:
            assert record["mac"] == mac.stdout.strip()
            assert record["hostname"] == "vm-from-dhclient"
            assert record["fqdn"] == "vm-from-dhclient.example"
            assert record["interface"] == network.fabric_veth
        assert records[1]["requested_address"] == "10.0.0.4"
        info = fabric.client.info()["dhcp"]
        assert info["leases"] == {mac.stdout.strip(): "10.0.0.4"}


def send_from_vm(network: FabricNetwork, payload: bytes) -> None:
    """One UDP datagram to the broadcast address, port 67, from the VM side's veth."""
    script = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        "s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\n"
        f"s.setsockopt(socket.SOL_SOCKET,socket.SO_BINDTODEVICE,b'{network.vm_veth}')\n"
        "s.sendto(bytes.fromhex(sys.argv[1]),('255.255.255.255',67))\n"
    )
    network.run_in_vm(["python3", "-c", script, payload.hex()])


@needs_dhcp
def test_bad_packets_are_dropped_and_the_server_keeps_answering(tmp_path: Path) -> None:
    settings = {"lease_time": 600, "ms_routes": True, "endpoint": "168.63.129.16"}
    scenario = Scenario.from_dict({"dhcp": settings})
    with dhcp_fabric(tmp_path, scenario) as (network, fabric):
        send_from_vm(network, b"\x01" * 300)
        send_from_vm(network, client_packet(1, end=False) + b"\x0c\x40short")
        send_from_vm(network, client_packet(1, (50, b"\x0a\x00")))  # a 2-byte requested address
        wait_for(lambda: fabric.client.info()["dhcp"]["dropped"] == 3, timeout=10,
                 what="three dropped packets")  # fmt: skip
        assert fabric.client.records("dhcp") == []
        # Settings changed through the admin API reach the next lease.
        fabric.client.set_dhcp(routes=[{"destination": "10.50.0.0/16", "gateway": "10.0.0.1"}])
        text = dhclient(network, tmp_path / "client", "after-garbage").read_text()
        assert "option dhcp-lease-time 600;" in text
        assert "option rfc3442-classless-static-routes 16,10,50,10,0,0,1;" in text
        assert "option ms-classless-static-routes 16,10,50,10,0,0,1;" in text
        assert fabric.client.records("dhcp")[0]["hostname"] == "after-garbage"


def test_no_dhcp_server_without_an_interface() -> None:
    from waagent.fabric.server import fabric_thread

    with fabric_thread(Scenario.default(), address="127.0.0.1", wire_port=0, hgap_port=0,
                       storage_port=0) as fabric:  # fmt: skip
        assert fabric.info()["dhcp"] is None
        with pytest.raises(LookupError, match="--dhcp-interface"):
            fabric.set_dhcp(lease_time=60)
