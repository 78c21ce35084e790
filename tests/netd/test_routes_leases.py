"""DHCP lease files of every client family, read by the one parser wire and netd share (§2.2,
§10.10): option 245, the router, and classless static routes (121, else 249) as dotted quads."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from waagent.common import dhcp_leases
from waagent.common.dhcp_leases import LeaseRoute, classless_routes, read_leases
from waagent.common.root import Root
from waagent.netd.dhcp_routes import wanted_routes

NOW = datetime(2026, 12, 1, tzinfo=UTC)

# As systemd-networkd 252 wrote it in the booted system-test VM (tests/system/test_dhcp.py).
NETWORKD = """# This is private data. Do not parse.
ADDRESS=10.0.0.4
NETMASK=255.255.255.0
ROUTER=10.0.0.1
SERVER_ADDRESS=168.63.129.16
NEXT_SERVER=168.63.129.16
T1=1800
T2=3150
LIFETIME=3600
DNS=168.63.129.16
DOMAINNAME=fabric.internal.cloudapp.net
CLASSLESS_ROUTES=168.63.129.16/32,10.0.0.1 169.254.169.254/32,10.0.0.1 10.99.0.0/16,10.0.0.1
CLIENTID=ff1a55c3bb00020000ab11e03df7430ffabe8a
OPTION_245=a83f8110
"""

# As ISC dhclient 4.4.3 wrote it against the fabric's DHCP server (tests/fabric/test_dhcp.py).
ISC = """lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option subnet-mask 255.255.255.0;
  option routers 10.0.0.1;
  option dhcp-lease-time 3600;
  option unknown-245 a8:3f:81:10;
  option rfc3442-classless-static-routes 32,168,63,129,16,10,0,0,1,16,10,99,10,0,0,1;
  renew 0 2030/12/06 03:31:39;
  expire 0 2030/12/06 04:02:33;
}
"""

HOSTS = (
    LeaseRoute(destination="168.63.129.16/32", gateway="10.0.0.1"),
    LeaseRoute(destination="169.254.169.254/32", gateway="10.0.0.1"),
)


def test_a_real_networkd_lease_gives_endpoint_router_and_routes() -> None:
    lease = dhcp_leases.parse_networkd(NETWORKD, "/run/systemd/netif/leases/2")
    assert lease.endpoint == "168.63.129.16"
    assert lease.routers == ("10.0.0.1",)
    assert lease.routes == (*HOSTS, LeaseRoute(destination="10.99.0.0/16", gateway="10.0.0.1"))


def test_a_real_dhclient_lease_gives_endpoint_router_and_routes() -> None:
    (lease,) = dhcp_leases.parse_isc(ISC, NOW, "/var/lib/dhcp/dhclient.eth0.leases")
    assert (lease.interface, lease.address, lease.endpoint) == ("eth0", "10.0.0.4", "168.63.129.16")
    assert [str(route) for route in lease.routes] == [
        "168.63.129.16/32 via 10.0.0.1",
        "10.99.0.0/16 via 10.0.0.1",
    ]


def test_option_121_undeclared_and_option_249_are_read_from_hex() -> None:
    # 249 is what dhclient writes without a declaration, and networkd keeps as a private option.
    hex_routes = "20:a8:3f:81:10:a:0:0:1:0:a:0:0:1"
    isc = ISC.replace(
        "option rfc3442-classless-static-routes 32,168,63,129,16,10,0,0,1,16,10,99,10,0,0,1;",
        f"option unknown-249 {hex_routes};",
    )
    (lease,) = dhcp_leases.parse_isc(isc, NOW)
    assert [str(r) for r in lease.routes] == [
        "168.63.129.16/32 via 10.0.0.1",
        "0.0.0.0/0 via 10.0.0.1",
    ]
    networkd = NETWORKD.replace("CLASSLESS_ROUTES=", "X=") + "OPTION_249=20a83f81100a000001\n"
    assert dhcp_leases.parse_networkd(networkd).routes == HOSTS[:1]


def test_classless_routes_decode_to_dotted_quads_not_integers() -> None:
    # The classic quirk (§10.10): networks and gateways went to `ip route` as integers.
    routes = classless_routes(bytes([24, 192, 168, 5, 10, 0, 0, 1, 0, 10, 0, 0, 1]))
    assert [str(r) for r in routes] == ["192.168.5.0/24 via 10.0.0.1", "0.0.0.0/0 via 10.0.0.1"]
    with pytest.raises(ValueError, match="do not decode"):
        classless_routes(bytes([33, 1, 2, 3, 4, 5, 10, 0, 0, 1]))
    with pytest.raises(ValueError, match="do not decode"):
        classless_routes(bytes([24, 192, 168]))


def dhcpcd_reply(options: bytes) -> bytes:
    header = bytearray(236)
    header[0], header[1], header[2] = 2, 1, 6
    header[16:20] = bytes([10, 0, 0, 4])
    return bytes(header) + b"\x63\x82\x53\x63" + options + b"\xff"


def test_a_dhcpcd_lease_is_the_reply_as_received() -> None:
    options = bytes([53, 1, 5, 3, 4, 10, 0, 0, 1, 245, 4, 168, 63, 129, 16])
    options += bytes([249, 7, 16, 10, 99, 10, 0, 0, 1])  # only 249: Microsoft's copy
    lease = dhcp_leases.parse_dhcpcd(dhcpcd_reply(options), "/var/lib/dhcpcd/eth0.lease")
    assert (lease.address, lease.routers, lease.endpoint) == (
        "10.0.0.4",
        ("10.0.0.1",),
        "168.63.129.16",
    )
    assert lease.interface == "eth0"
    assert [str(r) for r in lease.routes] == ["10.99.0.0/16 via 10.0.0.1"]
    with pytest.raises(ValueError, match="runs past the end"):
        dhcp_leases.parse_dhcpcd(dhcpcd_reply(bytes([3, 9, 1])))


def test_the_default_route_comes_from_the_router_unless_121_carries_one() -> None:
    lease = dhcp_leases.parse_networkd(NETWORKD)
    assert [str(r) for r in wanted_routes(lease)][-1] == "0.0.0.0/0 via 10.0.0.1"
    with_default = lease.model_copy(
        update={"routes": (LeaseRoute(destination="0.0.0.0/0", gateway="10.0.0.9"),)}
    )
    assert [str(r) for r in wanted_routes(with_default)] == ["0.0.0.0/0 via 10.0.0.9"]


def test_the_newest_file_wins_and_broken_files_are_skipped(tmp_path: Path) -> None:
    isc = tmp_path / "var/lib/dhcp/dhclient.eth0.leases"
    isc.parent.mkdir(parents=True)
    isc.write_text(ISC)
    os.utime(isc, (1, 1))
    networkd = tmp_path / "run/systemd/netif/leases/2"
    networkd.parent.mkdir(parents=True)
    networkd.write_text(NETWORKD)
    broken = tmp_path / "var/lib/dhcpcd/eth1.lease"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x00" * 300)
    leases = read_leases(Root(tmp_path), NOW)
    assert [lease.path for lease in leases] == [
        "/var/lib/dhcp/dhclient.eth0.leases",
        "/run/systemd/netif/leases/2",
    ]
    networkd.write_text(NETWORKD.replace("OPTION_245=a83f8110", "OPTION_245=nothex!"))
    assert [lease.format for lease in read_leases(Root(tmp_path), NOW)] == ["isc"]
