"""Peak memory of each service while it works: the figures the units' MemoryHigh/MemoryMax are
sized from (docs/architecture.md, "Limits of the agent's own units").

VmHWM (the process's peak resident set) of: the provisioner after a provisioning with RSA host
keys (the costliest kind), wire after it, and extd after installing and enabling 10 extensions
at once, wire after that, wire uploading a log bundle of the largest size it accepts, and diskd
formatting a resource disk and making its swap file. Prints figures; asserts nothing. Needs root.
Run: .venv/bin/python bench/service_peaks.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.extensions import all_succeeded, names, reporting, success
from tests.diskd.disks import LoopDisk, dev_root, gen2_sysfs, ntfs_typed
from tests.diskd.system import DiskEnvironment, config
from tests.harness.wait import wait_for
from tests.provisioner.vm import simulated_vm
from waagent.common.bus.client import call, connect_system_bus
from waagent.common.names import DISK, PROVISIONER, WIRE
from waagent.fabric.scenario import CertificateSpec, Scenario

RUNS = 3


def peak_mib(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def provisioning_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-peaks-") as tmp:
        config = {"Provisioning.SshHostKeyPairType": "rsa", "Services.IdleTimeout": "60"}
        with simulated_vm(Path(tmp), config=config) as vm:
            vm.prop("State")
            assert vm.wait_state("Provisioned", "Failed", timeout=120) == "Provisioned"
            busctl = vm.env.busctl
            provisioner, _ = peak_mib(busctl.owner_pid(PROVISIONER.name))
            wire, _ = peak_mib(busctl.owner_pid(WIRE.name))
    return {"provisioner": provisioner, "wire after provisioning": wire}


def extensions_run() -> dict[str, float]:
    with reporting(Scenario(certificates=[CertificateSpec(name="tenant")])) as system:
        handlers = names(10)
        for name in handlers:
            system.fabric.add_extension(name, version="1.0.0")
        system.refresh()
        wait_for(lambda: all_succeeded(system, handlers, success(0)), timeout=600, what="success")
        extd, _ = peak_mib(system.extd_pid())
        wire, _ = peak_mib(system.env.busctl.owner_pid(WIRE.name))
    return {"extd, 10 extensions": extd, "wire after extensions": wire}


def diskd_run() -> dict[str, float]:
    """diskd formatting a fresh 2 GiB resource disk (ext4) and making a 1 GiB swap file."""
    with tempfile.TemporaryDirectory(prefix="bench-peaks-") as tmp:
        workdir = Path(tmp)
        disk = ntfs_typed(LoopDisk(workdir / "disk.img", 2048))
        env = DiskEnvironment(
            [
                "--sysfs-root",
                str(gen2_sysfs(workdir / "sys", disk.name)),
                "--dev-root",
                str(dev_root(workdir / "dev", disk)),
            ],
            [disk],
            config=config({"ResourceDisk.EnableSwap": "y", "ResourceDisk.SwapSizeMB": "1024"}),
        )
        try:
            env.start()
            wait_for(
                lambda: (
                    env.busctl.get_property(DISK.name, DISK.path, DISK.interface, "State")
                    in ("Mounted", "Failed")
                ),
                timeout=300,
                what="diskd to finish",
            )
            diskd, _ = peak_mib(env.busctl.owner_pid(DISK.name))
        finally:
            env.stop()
            disk.release()
    return {"diskd, format + swap": diskd}


async def _upload(address: str, fd: int) -> None:
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    bus = await connect_system_bus()
    try:
        await call(bus, WIRE, "UploadLogs", "h", [0], unix_fds=[fd], timeout=300)
    finally:
        bus.disconnect()


def log_upload_run() -> dict[str, float]:
    """wire uploading a bundle of the largest size it accepts (100 MiB, incompressible)."""
    with reporting(Scenario()) as system, tempfile.TemporaryFile() as bundle:
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("waagent.log", os.urandom((100 << 20) - 4096))
        bundle.flush()
        asyncio.run(_upload(system.env.address, bundle.fileno()))
        wire, _ = peak_mib(system.env.busctl.owner_pid(WIRE.name))
    return {"wire, 100 MiB log upload": wire}


def main() -> int:
    runs: dict[str, list[float]] = {}
    for _ in range(RUNS):
        for figures in (provisioning_run(), extensions_run(), log_upload_run(), diskd_run()):
            for key, value in figures.items():
                runs.setdefault(key, []).append(value)
    print(f"peak resident memory (VmHWM), {RUNS} runs: median (max)")
    for key, values in runs.items():
        print(f"  {key:<28}{statistics.median(values):6.1f} MiB ({max(values):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
