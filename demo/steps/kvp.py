"""Hyper-V KVP: the provisioning result the host reads without the network, and RDMA set up from
the host's pool (SR-IOV `IPoIB_Data`) on a veth interface in a network namespace of its own.

The provisioning part runs its own simulated VM (tests/provisioner/vm.py) whose DVD is broken and
whose fabric is down: the fabric hears nothing, the guest pool says why. The RDMA part runs
`waagent-rdma` against this demo's bus, with netd bus-activated inside the namespace.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tests.harness.environment import Environment
from tests.harness.wait import wait_for
from tests.netd.netns import missing_for_netns, netd_in_namespace, stop_netd
from tests.provisioner import samples
from tests.provisioner.vm import simulated_vm
from waagent.common.kvp import GUEST, KvpPool
from waagent.common.names import NETWORK
from waagent.common.root import Root
from waagent.fabric.kvp import ipoib_data, write_host_pool

from .common import heading, show

RDMA_MAC = "00155D33FF1A"
RDMA_IP = "172.16.1.2"


def _report(root: Path) -> str | None:
    return KvpPool(Root(root), GUEST).read().get("PROVISIONING_REPORT")


def _provisioning_report() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="waagent-demo-kvp-") as tmp,
        simulated_vm(Path(tmp)) as vm,
    ):
        samples.dvd(vm.dev, b"<Environment><unclosed>")
        vm.fabric.go_down()
        show("DVD", "not XML; the fabric is down")
        vm.prop("State")  # activates the provisioner
        value = wait_for(lambda: _report(vm.root), timeout=60, what="the KVP report")
        show("fabric: health reports", vm.health())
        show("/var/lib/hyperv/.kvp_pool_1", "PROVISIONING_REPORT =")
        print(f"    {value}", flush=True)


def _ip(*argv: str) -> str:
    return subprocess.run(
        ["ip", *argv], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def _rdma(env: Environment) -> None:
    problem = missing_for_netns()
    if problem:
        show("RDMA skipped", problem)
        return
    namespace = f"wdemo-rdma-{os.getpid()}"
    _ip("netns", "add", namespace)
    mac = ":".join(RDMA_MAC[i : i + 2] for i in range(0, 12, 2))
    config = env.sandbox.root / "run/rdma-demo.conf"
    try:
        _ip(
            "-n",
            namespace,
            "link",
            "add",
            "ib0",
            "address",
            mac,
            "type",
            "veth",
            "peer",
            "name",
            "ib0p",
        )
        netd_in_namespace(env, namespace)
        write_host_pool(env.sandbox.root, {"IPoIB_Data": ipoib_data([(RDMA_MAC, RDMA_IP)])})
        show("host's KVP pool 0", f"IPoIB_Data={ipoib_data([(RDMA_MAC, RDMA_IP)])}")
        config.write_text(env.sandbox.config_path.read_text() + "OS.EnableRDMA=y\n")
        argv = [*env.service_argv("rdma")[:-1], str(config)]
        done = subprocess.run(
            argv, env=env.bus.env(), capture_output=True, text=True, timeout=120, check=False
        )
        print(f"  $ waagent-rdma   (exit {done.returncode})")
        for line in done.stdout.splitlines():
            print(f"    {line}")
        listed = _ip("-n", namespace, "-4", "-o", "addr", "show", "ib0").split()
        show("ip -4 addr show ib0", listed[3] if len(listed) > 3 else "(none)")
    finally:
        stop_netd(env)
        env.make_activatable(NETWORK)
        subprocess.run(["ip", "netns", "del", namespace], check=False, timeout=10)
        (env.sandbox.root / "var/lib/hyperv/.kvp_pool_0").unlink(missing_ok=True)


def run(env: Environment) -> None:
    heading("Hyper-V KVP: the provisioning result for the host, and RDMA from the host's pool")
    _provisioning_report()
    _rdma(env)
