"""A VM namespace facing a WireServer address, commands run inside it, and TCP probes as users.

Every rule a test makes lives in the VM namespace of a `FabricNetwork`, which is deleted at the
end: the host's own rule set is never read or written. The fabric side listens on the WireServer's
port 80 and on tcp/53 (DNS, which the firewall leaves open to everyone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.cmdenv import BASE_ENV
from waagent.common.commands import Completed, Runner
from waagent.common.names import NETWORK
from waagent.fabric.network import FabricNetwork

LISTENER = """
import socket, selectors
sel = selectors.DefaultSelector()
for port in (80, 53):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("168.63.129.16", port)); s.listen(64); sel.register(s, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept(); conn.close()
"""

# The classic agent's nftables rules (reference §10.6): root only.
CLASSIC_NFT = (
    "add table ip walinuxagent\n"
    "add chain ip walinuxagent output { type filter hook output priority 0 ; policy accept ; }\n"
    "add rule ip walinuxagent output ip daddr 168.63.129.16 tcp dport != 53 skuid != 0"
    " ct state invalid,new counter drop\n"
)

PROBE = """
import socket, sys
try:
    socket.create_connection(("168.63.129.16", int(sys.argv[1])), timeout=float(sys.argv[2])).close()
except OSError as exc:
    print(exc); sys.exit(1)
"""


def missing_for_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nft", "setpriv"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


class NetnsRunner(Runner):
    """The real runner, every command inside the namespace (`ip netns exec`)."""

    def __init__(self, namespace: str, extra_env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.namespace = namespace
        # Added to every command's environment (a private bus for firewall-cmd).
        self.extra_env = dict(extra_env or {})
        self.calls: list[tuple[str, ...]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        input: bytes | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Completed:
        self.calls.append(tuple(argv))
        return await super().run(
            ["ip", "netns", "exec", self.namespace, *argv],
            timeout=timeout,
            input=input,
            check=check,
            env={**(env or BASE_ENV), **self.extra_env} if self.extra_env else env,
            cwd=cwd,
        )


@dataclass
class VmNetwork:
    network: FabricNetwork
    runner: NetnsRunner

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.network.run_in_vm(list(argv), check=check)

    def connects(self, uid: int, port: int = 80, timeout: float = 1.0) -> bool:
        """Can `uid` open a TCP connection to the WireServer from the VM namespace?"""
        who = [] if uid == 0 else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        result = self.exec(*who, PYTHON, "-c", PROBE, str(port), str(timeout), check=False)
        return result.returncode == 0

    def nft_tables(self) -> list[str]:
        return [
            line.split()[-1]
            for line in self.exec("nft", "list", "tables").stdout.splitlines()
            if line.startswith("table ip ")
        ]

    def iptables_rules(self, program: str = "iptables") -> list[str]:
        listed = self.exec(program, "-w", "-t", "security", "-S", "OUTPUT").stdout
        return [line for line in listed.splitlines() if line.startswith("-A OUTPUT")]


@contextlib.contextmanager
def vm_network() -> Iterator[VmNetwork]:
    with FabricNetwork("nd") as network:
        listener = network.popen_in_fabric(
            [PYTHON, "-c", LISTENER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == b"listening"
        yield VmNetwork(network, NetnsRunner(network.vm_ns))


def stop_netd(env: Environment) -> None:
    """A netd of an earlier step or test gone, so the next call activates a new one."""
    if name_has_owner(env.bus, NETWORK.name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(env.busctl.owner_pid(NETWORK.name), signal.SIGTERM)
    wait_for(lambda: not name_has_owner(env.bus, NETWORK.name), timeout=30, what="netd to exit")


def netd_in_namespace(env: Environment, namespace: str) -> int:
    """netd bus-activated inside `namespace`, proven by its PID's network namespace, never the
    host's (where its rules and routes would land); its PID. The caller puts the plain
    activation entry back (`env.make_activatable(NETWORK)`) and stops it (`stop_netd`)."""
    stop_netd(env)
    argv = env.service_argv(NETWORK.program)
    env.bus.add_service(NETWORK.name, ["/usr/sbin/ip", "netns", "exec", namespace, *argv])
    reply = env.busctl.call(NETWORK.name, NETWORK.path, "org.freedesktop.DBus.Peer", "Ping")
    if not reply.ok:
        raise RuntimeError(f"netd did not start in {namespace}: {reply.error}")
    pid = env.busctl.owner_pid(NETWORK.name)
    if os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat(f"/run/netns/{namespace}").st_ino:
        os.kill(pid, signal.SIGTERM)
        raise RuntimeError(f"netd (pid {pid}) is not in the network namespace {namespace}")
    return pid
