"""One whole agent for the Cockpit page's tests (module scope: it takes seconds to build).

The fabric simulator serves a VM with the test extension; the private bus has our policies and a
real polkitd; wire, extd, the provisioner (from IMDS, on a sandbox system tree) and diskd (on a
real loop disk as the resource disk, with a swap file) are bus-activated and have done their
work before the browser opens the page. Each test opens its own cockpit-ws and browser tab.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.diskd.conftest import missing_for_loop_devices
from tests.diskd.disks import LoopDisk, dev_root, gen2_sysfs, ntfs_typed
from tests.diskd.system import DiskEnvironment
from tests.extd.system import PROBE, System, probe_extension
from tests.harness.fabric import fabric_for
from tests.harness.paths import PYTHON
from tests.harness.wait import wait_for
from tests.provisioner.system import build_system
from waagent.common.names import DISK, PROVISIONER
from waagent.fabric.scenario import CertificateSpec, Scenario
from waagent.fabric.server import Fabric

from .browser import Chromium, chromium, chromium_binary
from .cockpit_ws import missing_for_cockpit

SWAP_MB = 32
CONFIG = {
    "Extensions.GoalStatePeriod": "2",
    "Extensions.EnableTimeout": "20",
    "Extensions.DisableTimeout": "20",
    "Services.IdleTimeout": "300",
    "ResourceDisk.Format": "y",
    "ResourceDisk.Filesystem": "ext4",
    "ResourceDisk.MountOptions": "nodev,nosuid",
    "ResourceDisk.EnableSwap": "y",
    "ResourceDisk.SwapSizeMB": str(SWAP_MB),
    # As tests/provisioner/vm.py: new host keys (the sandbox tree's are placeholders).
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
}


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (private bus, polkitd, loop devices)"
    if chromium_binary() is None:
        return "needs chromium"
    return missing_for_cockpit() or missing_for_loop_devices()


@dataclass
class Agent:
    system: System
    fabric: Fabric
    disk: LoopDisk
    bin_dir: Path

    @property
    def env(self) -> DiskEnvironment:
        return self.system.env  # type: ignore[return-value]

    def prop(self, service: str, path: str, interface: str, name: str) -> object:
        return self.env.busctl.get_property(service, path, interface, name)

    @property
    def swap_file(self) -> Path:
        return self.env.sandbox.path("/mnt/resource/swapfile")


def _waagent_command(directory: Path, root: Path) -> Path:
    """`waagent` on the bridge's PATH: the real command on the sandbox root (what the page
    spawns to collect logs), as the installed launcher would run it."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    script = directory / "waagent"
    script.write_text(f'#!/bin/sh\nexec {PYTHON} -m waagent.cli "$@" -root:{root}\n')
    script.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix="waagent-cockpit-agent-"))
    os.chmod(work, 0o755)
    scenario = Scenario(
        certificates=[CertificateSpec(name="tenant")], extensions=[probe_extension()]
    )
    disk = ntfs_typed(LoopDisk(work / "resource.img", 256))
    disk_args = ["--sysfs-root", str(gen2_sysfs(work / "sys", disk.name))]
    disk_args += ["--dev-root", str(dev_root(work / "dev", disk))]
    try:
        with (
            fabric_for(None, scenario) as fabric,
            DiskEnvironment(disk_args, [disk], config=CONFIG, endpoint=fabric.address) as env,
        ):
            build_system(env.sandbox.root)
            system = System(env, fabric)
            system.start()
            system.wait_extension_status(PROBE, "success", seq=0)
            wait_for(
                lambda: (
                    env.busctl.get_property(DISK.name, DISK.path, DISK.interface, "State")
                    in ("Mounted", "Failed")
                ),
                timeout=60,
                what="diskd to settle",
            )
            wait_for(
                lambda: (
                    env.busctl.get_property(
                        PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "State"
                    )
                    in ("Provisioned", "Failed")
                ),
                timeout=60,
                what="provisioning to end",
            )
            yield Agent(system, fabric, disk, _waagent_command(work / "bin", env.sandbox.root))
    finally:
        disk.release()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix="waagent-chromium-"))
    try:
        with chromium(work) as running:
            yield running
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the screenshots go (kept after the run; the path is printed)."""
    directory = Path(tempfile.mkdtemp(prefix="waagent-cockpit-screenshots-"))
    print(f"\nCockpit screenshots: {directory}")
    return directory
