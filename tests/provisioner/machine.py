"""A sandbox machine for the provisioner's logic: a system tree, a DVD, firmware, fake peers.

`Machine.provisioner()` builds the real logic (real useradd/chpasswd/ssh-keygen against the
sandbox root) with fakes only for the services on the bus; calling it again is like restarting
the service on the same machine.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.diskd.runners import RecordingRunner
from waagent.common.config import AgentConfig
from waagent.common.root import Root
from waagent.provisioner.build import build_provisioner
from waagent.provisioner.cloud_init import CloudInitWaits
from waagent.provisioner.flow import Provisioner

from . import samples
from .fakes import FakeHostnamed, FakeUnits, FakeWire
from .system import build_system, product_uuid_tree

BOOT_ID = "0d7b6a3c-test-boot"
# Fast and complete: host keys are regenerated (ed25519 takes milliseconds).
BASE_CONFIG = {
    "Provisioning.Agent": "waagent",
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
}


def missing_for_accounts() -> str | None:
    if os.geteuid() != 0:
        return "needs root (useradd --root chroots into the sandbox)"
    for tool in ("useradd", "chpasswd", "userdel", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def config(**overrides: str) -> AgentConfig:
    return AgentConfig.model_validate({**BASE_CONFIG, **overrides})


@dataclass
class Machine:
    base: Path
    wire: FakeWire = field(default_factory=FakeWire)
    units: FakeUnits = field(default_factory=FakeUnits)
    hostnamed: FakeHostnamed = field(default_factory=lambda: FakeHostnamed(present=False))
    runner: RecordingRunner = field(default_factory=RecordingRunner)
    boot_id: str = BOOT_ID

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def dev(self) -> Path:
        return self.base / "dev"

    @property
    def sysfs(self) -> Path:
        return self.base / "sys"

    def path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    def build(self) -> Machine:
        build_system(self.root)
        self.dev.mkdir(parents=True, exist_ok=True)
        product_uuid_tree(self.sysfs, samples.VM_ID)
        return self

    def insert_dvd(self, document: bytes) -> Path:
        return samples.dvd(self.dev, document)

    def provisioner(self, cfg: AgentConfig | None = None, **kw: Any) -> Provisioner:
        return build_provisioner(
            cfg or config(),
            Root(self.root),
            self.runner,
            wire=self.wire,
            units=self.units,
            hostname_service=self.hostnamed,
            dev_root=self.dev,
            sysfs_root=self.sysfs,
            boot_id=self.boot_id,
            waits=kw.pop("waits", CloudInitWaits(ovf_env=2, host_key=2, poll=0.05)),
        )


def require_accounts() -> None:
    reason = missing_for_accounts()
    if reason is not None:
        pytest.skip(reason)
