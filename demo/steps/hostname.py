"""Hostname publishing (netd's PublishHostname), in a VM network namespace of its own.

A private bus of its own (its policy lets the stand-in own systemd-networkd's name), with netd
bus-activated inside the namespace, so the classic bounce only ever touches the VM side of a
veth; then a stand-in for systemd-networkd answers on the bus (the real networkd is exercised in
the booted VM, tests/system/test_hostname.py); then a failure, which the real wire sends to the
demo's fabric as a HostnamePublishing event.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.harness.environment import Environment
from tests.harness.wait import wait_for
from tests.netd.fake_network_stacks import POLICY, calls, stand_in
from tests.netd.netns import VmNetwork, missing_for_netns, netd_in_namespace, vm_network
from waagent.common.names import NETWORK, WIRE

from .common import heading, show

N = (NETWORK.name, NETWORK.path, NETWORK.interface)
PROPS = ("PublishedHostname", "PublishMethod", "PublishError")


def _publish(env: Environment, user: str | None = None) -> str:
    reply = env.busctl.call(*N, "PublishHostname", user=user, timeout=60)
    return "ok" if reply.ok else reply.error


def _shown(env: Environment) -> str:
    return " / ".join(str(env.busctl.get_property(*N, p)) or "-" for p in PROPS)


def _event(fabric: Any) -> str | None:
    for record in fabric.records("telemetry"):
        for sent in record["events"]:
            if sent["params"].get("Operation") == "HostnamePublishing":
                return str(sent["params"]["Message"])
    return None


def run(demo: Environment) -> None:
    heading("netd: the hostname published to the DHCP server (in a VM network namespace)")
    problem = missing_for_netns()
    if problem:
        show("skipped", problem)
        return
    fabric = demo.fabric
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "stand-ins.conf"
        policy.write_text(POLICY)
        with (
            vm_network() as vm,
            Environment(
                polkit=False, activatable=False, extra_policies=[policy], endpoint=fabric.address
            ) as env,
        ):
            env.make_activatable(WIRE)
            netd_in_namespace(env, vm.network.vm_ns)
            _steps(env, vm, fabric, Path(tmp))


def _steps(env: Environment, vm: VmNetwork, fabric: Any, tmp: Path) -> None:
    veth = vm.network.vm_veth
    vm.exec("ip", "route", "add", "default", "dev", veth)
    show("PublishHostname (as nobody)", _publish(env, user="nobody"))
    show("PublishHostname (root), no DHCP client on the bus", _publish(env))
    show("PublishedHostname/PublishMethod/PublishError", _shown(env))
    record = tmp / "calls"
    with stand_in(env, "networkd", record):
        show("PublishHostname (root), systemd-networkd on the bus", _publish(env))
    asked = ", ".join(f"{c[0]}({c[1]})" for c in calls(record))
    show("networkd was asked", asked)
    show("PublishedHostname/PublishMethod/PublishError", _shown(env))
    vm.exec("ip", "route", "flush", "dev", veth)
    show("PublishHostname (root), no route at all", _publish(env))
    show(
        "the fabric's HostnamePublishing event",
        wait_for(lambda: _event(fabric), timeout=30, what="the event"),
    )
