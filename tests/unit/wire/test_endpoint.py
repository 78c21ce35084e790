from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from waagent.common import dhcp_leases
from waagent.common.root import Root
from waagent.wire import endpoint

NOW = datetime(2026, 11, 25, tzinfo=UTC)

LEASES = """
lease {
  interface "eth0";
  option unknown-245 a8:3f:81:10;
  expire never;
}
lease {
  interface "eth0";
  option unknown-245 a8:3f:81:01;
  expire 4 2020/01/01 00:00:00;
}
lease {
  interface "eth0";
  option unknown-245 a8:3f:81:02;
  expire 4 2030/01/01 00:00:00;
}
"""


def test_a_route_to_the_wireserver_is_found_in_the_route_table() -> None:
    table = "Iface\tDestination\tGateway\neth0\t10813FA8\t0102000A\n"
    assert endpoint.route_to_wireserver(table)
    assert not endpoint.route_to_wireserver("Iface\tDestination\neth0\t00000000\n")


def endpoints(text: str) -> list[str | None]:
    return [lease.endpoint for lease in dhcp_leases.parse_isc(text, NOW)]


def test_the_last_unexpired_lease_with_option_245_wins() -> None:
    assert endpoints(LEASES)[-1] == "168.63.129.2"


def test_expired_leases_are_ignored() -> None:
    only_expired = LEASES.split("lease {")[2]
    assert endpoints("lease {" + only_expired) == []


def test_a_networkd_lease_gives_the_endpoint() -> None:
    lease = dhcp_leases.parse_networkd("ADDRESS=10.0.0.4\nOPTION_245=a83f8110\n")
    assert lease.endpoint == "168.63.129.16"


def test_discovery_prefers_the_route_then_the_newest_lease(tmp_path: Path) -> None:
    root = Root(tmp_path)
    routes = tmp_path / "route"
    routes.write_text("Iface\tDestination\n")
    (tmp_path / "var/lib/dhcp").mkdir(parents=True)
    old = tmp_path / "var/lib/dhcp/dhclient.eth0.leases"
    old.write_text(LEASES)
    os.utime(old, (1, 1))
    networkd = tmp_path / "run/systemd/netif/leases"
    networkd.mkdir(parents=True)
    (networkd / "2").write_text("OPTION_245=7f000005\n")
    found = endpoint.discover(root, route_table_path=routes)
    assert found == endpoint.Discovery("127.0.0.5", "lease /run/systemd/netif/leases/2")
    routes.write_text("Iface\tDestination\neth0\t10813FA8\n")
    assert endpoint.discover(root, route_table_path=routes).source == "route"


def test_without_route_or_lease_the_well_known_address_is_used(tmp_path: Path) -> None:
    found = endpoint.discover(Root(tmp_path), route_table_path=tmp_path / "missing")
    assert found == endpoint.Discovery("168.63.129.16", "well-known address")


def test_discovery_other_than_dhcp_skips_routes_and_leases(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dhcp").mkdir(parents=True)
    (tmp_path / "var/lib/dhcp/dhclient.eth0.leases").write_text(LEASES)
    found = endpoint.discover(Root(tmp_path), method="static", route_table_path=tmp_path / "x")
    assert found.endpoint == "168.63.129.16"
