"""Addresses for tests: services never reach real Azure addresses from the host's namespace.

Every private system gets its own loopback address (unique per process and environment). The
agent learns it as its WireServer through a DHCP lease file in the sandbox, exactly how a VM
learns the real one; with no fabric attached nothing listens there, so a request fails at once
instead of leaving the machine.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_counter = itertools.count(1)


def loopback_address() -> str:
    n = next(_counter)
    pid = os.getpid()
    return f"127.{100 + (pid >> 16) % 100}.{(pid >> 8) & 255}.{((pid & 255) + n * 37) % 254 + 1}"


def isc_lease(endpoint: str) -> str:
    octets = ":".join(f"{int(part):x}" for part in endpoint.split("."))
    return f'lease {{\n  interface "eth0";\n  option unknown-245 {octets};\n  expire never;\n}}\n'


def write_lease(root: Path, endpoint: str) -> Path:
    path = root / "var" / "lib" / "dhcp" / "dhclient.eth0.leases"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(isc_lease(endpoint))
    return path
