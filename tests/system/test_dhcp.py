"""DHCP in the booted VM (issue 15, items 2 and 8): systemd-networkd gets its lease from the
fabric's DHCP server, wire finds the WireServer through what that real exchange produced (the
option 121 host route, or the lease's option 245), the
option 121 routes are in the VM's table, and netd adds what networkd left out (the default route:
networkd follows RFC 3442 and ignores the router option when option 121 is present) at boot and
again when the lease changes."""

from __future__ import annotations

import json

import pytest

from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.vm import Vm, booted_vm

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

CONFIG = {"Extensions.GoalStatePeriod": "2", "Services.IdleTimeout": "5"}
LEASES = "/run/systemd/netif/leases"
DEFAULT = "0.0.0.0/0 via 10.0.0.1"


def routes(vm: Vm) -> set[tuple[str, str | None, str | None]]:
    """(destination, gateway, protocol) of the main table; `ip` leaves out protocol "boot"
    (what a plain `ip route add`, netd's, gets)."""
    listed = json.loads(vm.run("ip", "-4", "-json", "route").stdout)
    return {(entry["dst"], entry.get("gateway"), entry.get("protocol")) for entry in listed}


def lease_text(vm: Vm) -> str:
    return vm.run("sh", "-c", f"cat {LEASES}/*").stdout


def routes_record(vm: Vm) -> dict[str, object] | None:
    out = vm.run("cat", "/run/waagent/dhcp-routes.json")
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_networkd_leases_from_the_fabric_and_wire_and_netd_use_that_lease() -> None:
    with booted_vm(CONFIG, dhcp=True) as vm:
        lease = wait_for(lambda: "OPTION_245=" in lease_text(vm) and lease_text(vm), timeout=60,
                         what="networkd's lease")  # fmt: skip
        # The lease as networkd writes it: option 245 as 8 hex digits, the option 121 routes.
        assert "OPTION_245=a83f8110\n" in lease
        assert (
            "CLASSLESS_ROUTES=168.63.129.16/32,10.0.0.1 169.254.169.254/32,10.0.0.1 "
            "10.99.0.0/16,10.0.0.1\n"
        ) in lease
        links = json.loads(vm.run("ip", "-json", "link").stdout)
        interface, mac = next((k["ifname"], k["address"]) for k in links if k["ifname"] != "lo")
        exchange = [
            (r["message_type"], r["answer"], r["mac"]) for r in vm.fabric.client.records("dhcp")
        ]
        assert exchange[:2] == [("DISCOVER", "OFFER", mac), ("REQUEST", "ACK", mac)]

        # wire found the endpoint through that exchange: by the option 121 host route networkd
        # installed from the lease (routes come first, §2.1), or, when it started before the
        # route was there, in the lease itself.
        def discovered() -> str | None:
            log = vm.run("journalctl", "-u", "waagent-wire", "-o", "cat").stdout
            for source in ("(from route)", "(from lease /run/systemd/netif/leases/"):
                if f"WireServer endpoint 168.63.129.16 {source}" in log:
                    return source
            return None

        source = wait_for(discovered, timeout=60, what="wire's endpoint from the DHCP exchange")
        if source == "(from route)":
            assert ("168.63.129.16", "10.0.0.1", "dhcp") in routes(vm)
        wait_for(lambda: vm.fabric.client.records("health"), timeout=120,
                 what="wire's first health report")  # fmt: skip

        # networkd installed the option 121 routes; netd added the default route it left out.
        table = routes(vm)
        for destination in ("168.63.129.16", "169.254.169.254", "10.99.0.0/16"):
            assert (destination, "10.0.0.1", "dhcp") in table, table
        record = wait_for(lambda: routes_record(vm), timeout=60, what="netd's routes record")
        assert record["lease"].startswith(f"{LEASES}/")  # type: ignore[union-attr]
        assert record["added"] == [DEFAULT] and record["failed"] == []
        assert ("default", "10.0.0.1", None) in routes(vm)

        # A new lease (networkctl renew, new lease time) starts netd again through the path
        # unit: the default route removed by hand comes back.
        assert vm.run("ip", "route", "del", "default").returncode == 0
        vm.fabric.client.set_dhcp(lease_time=1800)
        renewed = vm.run("networkctl", "renew", interface)
        assert renewed.returncode == 0, renewed.stderr
        wait_for(lambda: "LIFETIME=1800" in lease_text(vm), timeout=30, what="the renewed lease")
        wait_for(lambda: ("default", "10.0.0.1", None) in routes(vm), timeout=30,
                 what="the default route again")  # fmt: skip
        # A netd already running reads the unit's new record when the unit announces it.
        wait_for(lambda: vm.prop("org.waagent.Network1", "DhcpRoutesAdded") == [DEFAULT],
                 timeout=30, what="netd's DhcpRoutesAdded")  # fmt: skip
        status = vm.run("waagent", "status").stdout
        assert "DhcpRoutesAdded" in status and DEFAULT in status
