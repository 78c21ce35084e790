"""Where the fabric sits on the network, and how the agent learns where that is.

* Loopback placement: `allocate_loopback()` gives each fabric its own 127.x.y.z address (the
  PID is part of it, so parallel runs never collide); the agent learns it from a DHCP lease file
  with option 245, exactly as a VM learns 168.63.129.16.
* Namespace placement: `FabricNetwork` builds two network namespaces joined by a veth pair, the
  fabric side holding 168.63.129.16 and 169.254.169.254, the VM side 10.0.0.4/24 with host routes
  to both and nothing else, so an unmodified agent talks to the real addresses. Those addresses
  never exist outside the namespaces it created, and it proves that with `ip route get` first.
  With `dhcp=True` the VM side starts with no address and no route: it gets them from the
  fabric's DHCP server (`serve --dhcp-interface <fabric_veth>`), whose routes point at the
  gateway 10.0.0.1 the fabric side then holds.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

WIRESERVER = "168.63.129.16"
IMDS = "169.254.169.254"
VM_ADDRESS = "10.0.0.4"
VM_PREFIX = 24
GATEWAY = "10.0.0.1"  # the fabric side's address in the VM's subnet (DHCP placement only)
FABRIC_PORTS = (80, 32526, 10000)
# Addresses that must not route from either namespace: the world, and this host's own network.
UNROUTABLE_PROBES = ("8.8.8.8", "1.1.1.1", "192.0.2.1")
COMMAND_TIMEOUT = 30.0

_counter = itertools.count(1)


class NetworkError(RuntimeError):
    """The namespaces could not be built, or do not isolate what they must."""


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except PermissionError:
            return True  # a privileged port we may not test; the fabric will say if it is taken
        except OSError:
            return False
    return True


def allocate_loopback(ports: Sequence[int] = FABRIC_PORTS) -> str:
    """A 127.x.y.z address of this process (PID in x.y), with `ports` free on it."""
    pid = os.getpid()
    high, low = 2 + (pid >> 8) % 250, pid & 0xFF
    for _ in range(254):
        host = next(_counter) % 254 + 1
        address = f"127.{high}.{low}.{host}"
        if all(_port_free(address, port) for port in ports):
            return address
    raise NetworkError(f"no free loopback address in 127.{high}.{low}.0/24")


def _hex_bytes(endpoint: str, separator: str, width: str) -> str:
    octets = socket.inet_aton(endpoint)
    return separator.join(format(octet, width) for octet in octets)


def write_dhclient_lease(
    path: str | Path,
    endpoint: str,
    *,
    expire: datetime | Literal["never"] | None = None,
    interface: str = "eth0",
) -> Path:
    """An ISC dhclient lease carrying `option unknown-245` (default expiry: one day ahead)."""
    if expire is None:
        expire = datetime.now(UTC) + timedelta(days=1)
    if expire == "never":
        when = "never"
    else:
        assert isinstance(expire, datetime)
        # dhclient writes "<weekday> YYYY/MM/DD HH:MM:SS" in UTC, weekday 0 = Sunday.
        utc = expire.astimezone(UTC)
        when = f"{(utc.weekday() + 1) % 7} {utc:%Y/%m/%d %H:%M:%S}"
    lease = (
        "lease {\n"
        f'  interface "{interface}";\n'
        f"  fixed-address {VM_ADDRESS};\n"
        "  option subnet-mask 255.255.255.0;\n"
        "  option routers 10.0.0.1;\n"
        "  option dhcp-lease-time 4294967295;\n"
        "  option dhcp-message-type 5;\n"
        f"  option dhcp-server-identifier {WIRESERVER};\n"
        f"  option domain-name-servers {WIRESERVER};\n"
        f"  option unknown-245 {_hex_bytes(endpoint, ':', 'x')};\n"
        '  option domain-name "fabric.internal.cloudapp.net";\n'
        f"  renew {when};\n"
        f"  rebind {when};\n"
        f"  expire {when};\n"
        "}\n"
    )
    return _write(path, lease)


def write_networkd_lease(path: str | Path, endpoint: str) -> Path:
    """A systemd-networkd lease file with `OPTION_245=<8 hex digits>`."""
    lease = (
        "# This is private data. Do not parse.\n"
        f"ADDRESS={VM_ADDRESS}\n"
        "NETMASK=255.255.255.0\n"
        "ROUTER=10.0.0.1\n"
        f"SERVER_ADDRESS={WIRESERVER}\n"
        f"DNS={WIRESERVER}\n"
        "DOMAINNAME=fabric.internal.cloudapp.net\n"
        "LIFETIME=4294967295\n"
        f"OPTION_245={_hex_bytes(endpoint, '', '02x')}\n"
    )
    return _write(path, lease)


def _write(path: str | Path, text: str) -> Path:
    """Atomically: a reader (the agent polling its lease) never sees half a lease."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def run(
    argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """A command with a timeout and no shell; a failure is one line with the command's message."""
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
    )  # fmt: skip
    if check and result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no message"]
        raise NetworkError(f"{' '.join(argv[:4])} failed: {message[0]}")
    return result


class FabricNetwork:
    """Two namespaces and a veth pair: `fabric` (168.63.129.16, 169.254.169.254) and `vm`."""

    def __init__(self, tag: str = "wa", *, dhcp: bool = False) -> None:
        unique = f"{os.getpid()}x{next(_counter)}"
        self.fabric_ns = f"{tag}-fabric-{unique}"
        self.vm_ns = f"{tag}-vm-{unique}"
        self.fabric_veth = f"wf{unique}"[:15]
        self.vm_veth = f"wv{unique}"[:15]
        self.wireserver = WIRESERVER
        self.imds = IMDS
        self.vm_address = VM_ADDRESS
        self.dhcp = dhcp
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> FabricNetwork:
        try:
            self._create()
            self.verify()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def _ip(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return run(["ip", *argv])

    def _create(self) -> None:
        f, v = self.fabric_ns, self.vm_ns
        self._ip("netns", "add", f)
        self._ip("netns", "add", v)
        # Both ends are born inside their namespaces: no interface ever exists on the host.
        self._ip(
            "link", "add", self.vm_veth, "netns", v, "type", "veth",
            "peer", "name", self.fabric_veth, "netns", f,
        )  # fmt: skip
        for ns in (f, v):
            self._ip("-n", ns, "link", "set", "lo", "up")
        self._ip("-n", f, "addr", "add", f"{WIRESERVER}/32", "dev", self.fabric_veth)
        self._ip("-n", f, "addr", "add", f"{IMDS}/32", "dev", self.fabric_veth)
        if self.dhcp:
            # The VM's address and routes come from the lease; the fabric is their gateway.
            self._ip("-n", f, "addr", "add", f"{GATEWAY}/{VM_PREFIX}", "dev", self.fabric_veth)
            self._ip("-n", f, "link", "set", self.fabric_veth, "up")
            self._ip("-n", v, "link", "set", self.vm_veth, "up")
            return
        self._ip("-n", v, "addr", "add", f"{VM_ADDRESS}/{VM_PREFIX}", "dev", self.vm_veth)
        self._ip("-n", f, "link", "set", self.fabric_veth, "up")
        self._ip("-n", v, "link", "set", self.vm_veth, "up")
        self._ip("-n", f, "route", "add", f"{VM_ADDRESS}/32", "dev", self.fabric_veth)
        for address in (WIRESERVER, IMDS):
            self._ip("-n", v, "route", "add", f"{address}/32", "dev", self.vm_veth)

    def route(self, namespace: str, address: str) -> str | None:
        """`ip route get` inside `namespace`: the route line, or None when unreachable."""
        result = run(["ip", "-n", namespace, "route", "get", address], check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def verify(self) -> None:
        """Both fabric addresses go over our veth from the VM side (once it has a lease, with
        DHCP); nothing else routes."""
        for address in () if self.dhcp else (WIRESERVER, IMDS):
            line = self.route(self.vm_ns, address)
            if line is None or f"dev {self.vm_veth}" not in line:
                raise NetworkError(
                    f"{address} does not route over {self.vm_veth} in {self.vm_ns}: {line}"
                )
        for namespace in (self.vm_ns, self.fabric_ns):
            for address in UNROUTABLE_PROBES:
                line = self.route(namespace, address)
                if line is not None:
                    raise NetworkError(f"{address} is routable from {namespace}: {line}")

    def namespaces(self) -> list[str]:
        listed = run(["ip", "netns", "list"]).stdout.split("\n")
        names = {line.split()[0] for line in listed if line.strip()}
        return [ns for ns in (self.fabric_ns, self.vm_ns) if ns in names]

    def run_in_vm(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", self.vm_ns, *argv], check=check, timeout=timeout)

    def _popen(
        self, namespace: str, argv: Sequence[str], **options: Any
    ) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = subprocess.Popen(
            ["ip", "netns", "exec", namespace, *argv], **options
        )
        self._processes.append(process)
        return process

    def popen_in_fabric(self, argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
        """Start a process on the fabric side (stopped, by PID, when the network goes)."""
        return self._popen(self.fabric_ns, argv, **options)

    def popen_in_vm(self, argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
        return self._popen(self.vm_ns, argv, **options)

    def _stop_processes(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()

    def remove(self) -> None:
        """Stop what runs inside, delete both namespaces (and with them the veth pair)."""
        self._stop_processes()
        for namespace in (self.vm_ns, self.fabric_ns):
            with contextlib.suppress(Exception):
                run(["ip", "netns", "del", namespace], check=False)
        left = self.namespaces()
        if left:
            raise NetworkError(f"network namespaces still present: {', '.join(left)}")
