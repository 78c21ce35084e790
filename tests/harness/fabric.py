"""The fabric simulator for the agent's tests: on a fresh loopback address, with a DHCP lease.

    with fabric_for(sandbox_root) as fabric:            # in a thread of this process
        ...                                              # the agent finds it through the lease
        assert fabric.records("health")[-1]["state"] == "Ready"

    with fabric_process(tmp_path, sandbox_root) as fabric:   # a `waagent-fabric serve` process
        fabric.client.program_faults("goalstate", [503])

Everything started here is stopped at teardown, by PID, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.paths import PYTHON
from waagent.fabric.client import FabricClient
from waagent.fabric.network import allocate_loopback, write_dhclient_lease
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric, fabric_thread

# Where a Debian VM's dhclient keeps its lease, inside the sandbox root.
LEASE_PATH = "var/lib/dhcp/dhclient.eth0.leases"
READY_TIMEOUT = 30.0


def _ports() -> dict[str, int]:
    """The classic ports as root (the address is ours alone); any free ports otherwise."""
    if os.geteuid() == 0:
        return {}
    return {"wire_port": 0, "hgap_port": 0, "storage_port": 0}


def write_lease(root: Path, endpoint: str) -> Path:
    return write_dhclient_lease(root / LEASE_PATH, endpoint)


@contextlib.contextmanager
def fabric_for(
    root: Path | None = None, scenario: Scenario | None = None, **options: Any
) -> Iterator[Fabric]:
    """A fabric in a background thread on a new loopback address; its lease in `root`."""
    settings: dict[str, Any] = {"address": allocate_loopback(), **_ports(), **options}
    with fabric_thread(scenario or Scenario.default(), **settings) as fabric:
        if root is not None:
            write_lease(root, fabric.address)
        yield fabric


@dataclass
class FabricProcess:
    process: subprocess.Popen[bytes]
    client: FabricClient
    info: dict[str, Any]

    @property
    def address(self) -> str:
        return str(self.info["address"])


def _ready_line(process: subprocess.Popen[bytes], log: Path, timeout: float) -> dict[str, Any]:
    """The `{"ready": true, ...}` line `serve` prints once it listens (with a deadline)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if not readable:
            break
        line = process.stdout.readline()
        if not line:
            error = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"waagent-fabric exited before it was ready: {error[0]}")
        with contextlib.suppress(ValueError):
            ready: dict[str, Any] = json.loads(line)
            if ready.get("ready"):
                return ready
    raise TimeoutError(f"waagent-fabric was not ready within {timeout:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def fabric_process(
    workdir: Path,
    root: Path | None = None,
    scenario: Scenario | None = None,
    *,
    address: str | None = None,
    extra_args: Sequence[str] = (),
    popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
) -> Iterator[FabricProcess]:
    """`waagent-fabric serve` as a process (`popen` may place it in a network namespace)."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario_file = workdir / "scenario.json"
    scenario_file.write_text((scenario or Scenario.default()).model_dump_json())
    admin = workdir / "admin.sock"
    listen = address or allocate_loopback()
    argv = [PYTHON, "-m", "waagent.fabric", "serve", "--scenario", str(scenario_file)]
    argv += ["--listen", listen, "--admin", f"unix:{admin}", *extra_args]
    if address is None:
        argv += [f"--{name.replace('_', '-')}={port}" for name, port in _ports().items()]
    log = workdir / "fabric.log"  # a file, not a pipe nobody drains
    with log.open("wb") as stderr:
        process = popen(argv, stdout=subprocess.PIPE, stderr=stderr)
    try:
        info = _ready_line(process, log, READY_TIMEOUT)
        with FabricClient(f"unix:{admin}") as client:
            if root is not None:
                write_lease(root, listen)
            yield FabricProcess(process, client, info)
    finally:
        _stop(process)
