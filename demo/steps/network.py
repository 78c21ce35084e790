"""netd: the WireServer firewall, in a VM network namespace of its own (never the host's rules).

netd is bus-activated inside the namespace, where 168.63.129.16 answers on port 80 and 53; the
classic agent's table (root only) is loaded first, as on a VM upgraded in place.
"""

from __future__ import annotations

import pwd

from tests.harness.environment import Environment
from tests.harness.procs import pids_with_marker, terminate
from tests.netd.netns import (
    CLASSIC_NFT,
    VmNetwork,
    missing_for_netns,
    netd_in_namespace,
    vm_network,
)
from waagent.common.names import NETWORK, WIRE_USER

from .common import heading, show

N = (NETWORK.name, NETWORK.path, NETWORK.interface)
WIRESERVER = "168.63.129.16"


def _call(env: Environment, method: str, *args: str, user: str | None = None) -> str:
    signature = "s" if args else ""
    reply = env.busctl.call(*N, method, signature, *args, user=user)
    return "ok" if reply.ok else reply.error


def _state(env: Environment) -> str:
    values = [
        str(env.busctl.get_property(*N, p)) or "-" for p in ("FirewallState", "Backend", "Endpoint")
    ]
    return " / ".join(values)


def _reach(vm: VmNetwork, wire_uid: int) -> str:
    who = {"root": 0, WIRE_USER: wire_uid, "nobody": 65534}
    return ", ".join(f"{name} {'yes' if vm.connects(uid) else 'no'}" for name, uid in who.items())


def _prepare_root(env: Environment, wire_uid: int) -> None:
    root = env.sandbox.root
    passwd = root / "etc/passwd"
    text = passwd.read_text() if passwd.exists() else "root:x:0:0:root:/root:/bin/sh\n"
    if f"\n{WIRE_USER}:" not in "\n" + text:
        text += f"{WIRE_USER}:x:{wire_uid}:{wire_uid}::/nonexistent:/usr/sbin/nologin\n"
        passwd.write_text(text)
    (root / "var/lib/waagent").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/waagent/WireServerEndpoint").write_text(WIRESERVER)


def run(env: Environment) -> None:
    heading("netd: the WireServer firewall (in a VM network namespace)")
    problem = missing_for_netns()
    if problem:
        show("skipped", problem)
        return
    wire_uid = pwd.getpwnam(WIRE_USER).pw_uid
    _prepare_root(env, wire_uid)
    with vm_network() as vm:
        try:
            netd_in_namespace(env, vm.network.vm_ns)
            vm.network.run_in_vm(["sh", "-c", f"nft -f - <<'EOF'\n{CLASSIC_NFT}EOF"])
            show("classic rules loaded; who reaches it", _reach(vm, wire_uid))
            show("Network1 FirewallState/Backend/Endpoint", _state(env))
            show(
                "SetupFirewall (as nobody)", _call(env, "SetupFirewall", WIRESERVER, user="nobody")
            )
            show("SetupFirewall (root)", _call(env, "SetupFirewall", WIRESERVER))
            show("Network1 FirewallState/Backend/Endpoint", _state(env))
            show("who reaches 168.63.129.16:80", _reach(vm, wire_uid))
            show("nobody reaches tcp/53 (DNS)", "yes" if vm.connects(65534, port=53) else "no")
            print("  $ nft list ruleset")
            for line in vm.exec("nft", "list", "ruleset").stdout.splitlines():
                print(f"    {line}")
            show("RemoveFirewall (root)", _call(env, "RemoveFirewall"))
            show("Network1 FirewallState", env.busctl.get_property(*N, "FirewallState"))
        finally:
            terminate(pids_with_marker(vm.network.vm_ns))
            env.make_activatable(NETWORK)
