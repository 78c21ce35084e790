"""A simulated Azure VM for the provisioner's integration tests (and its bench and demo step).

The fabric simulator serves the scenario (WireServer, IMDS) on a loopback address and builds
the provisioning DVD; a private bus with polkitd and the real wire service; a sandbox root with
a minimal system tree; firmware (product_uuid) and a /dev holding the DVD image as `sr0`. The
provisioner is bus-activated with those dev and sysfs roots.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.callers import Reply
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import PROVISIONER
from waagent.fabric.scenario import (
    CertificateSpec,
    Identity,
    KeyPair,
    Provisioning,
    RemoteUser,
    Scenario,
    SshPublicKey,
)
from waagent.fabric.server import Fabric

from . import samples
from .system import build_system, product_uuid_tree

HOSTNAME = "acceptance-vm"
KEY_PAIR = "/home/azureuser/.ssh/id_rsa"
CONFIG = {
    "Provisioning.Agent": "waagent",
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Provisioning.DeleteRootPassword": "y",
    "Services.IdleTimeout": "3",
}


def scenario(remote_access: Sequence[RemoteUser] = (), **provisioning: Any) -> Scenario:
    """The acceptance VM: a password, a key by value, a key and a key pair by certificate."""
    values: dict[str, Any] = {
        "user_name": samples.USER,
        "password": samples.PASSWORD,
        "ssh_public_keys": [
            SshPublicKey(path=samples.AUTHORIZED_KEYS, value=samples.ssh_key("admin@laptop")),
            SshPublicKey(path=samples.AUTHORIZED_KEYS, certificate="ssh"),
        ],
        "key_pairs": [KeyPair(path=KEY_PAIR, certificate="ssh")],
        "custom_data": "#!/bin/sh\necho hello\n",
        **provisioning,
    }
    return Scenario(
        identity=Identity(hostname=HOSTNAME, vm_id=samples.VM_ID),
        provisioning=Provisioning(**values),
        certificates=[CertificateSpec(name="ssh")],
        remote_access=list(remote_access),
    )


@dataclass
class Vm:
    env: Environment
    fabric: Fabric
    dev: Path
    sysfs: Path

    @property
    def root(self) -> Path:
        return self.env.sandbox.root

    def path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    def call(
        self,
        method: str,
        signature: str = "",
        *args: str,
        user: str | None = None,
        interactive: bool = False,
        timeout: float = 120,
    ) -> Reply:
        return self.env.busctl.call(
            PROVISIONER.name,
            PROVISIONER.path,
            PROVISIONER.interface,
            method,
            signature,
            *args,
            user=user,
            interactive=interactive,
            timeout=timeout,
        )

    def prop(self, name: str, *, user: str | None = None) -> Any:
        return self.env.busctl.get_property(
            PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, name, user=user
        )

    def wait_state(self, *states: str, timeout: float = 60) -> str:
        state: str = wait_for(
            lambda: (s := self.prop("State")) in states and s,
            timeout=timeout,
            what=f"State in {states}",
        )
        return state

    def health(self) -> list[tuple[str, str]]:
        return [(r["state"], r["substatus"] or "") for r in self.fabric.records("health")]

    def pid(self) -> int:
        return self.env.busctl.owner_pid(PROVISIONER.name)

    def kill(self) -> None:
        """SIGKILL the provisioner: it gets no chance to clean up."""
        os.kill(self.pid(), signal.SIGKILL)
        wait_for(
            lambda: not name_has_owner(self.env.bus, PROVISIONER.name),
            timeout=10,
            what="the provisioner to die",
        )

    def gone(self, timeout: float = 30) -> None:
        wait_for(
            lambda: not name_has_owner(self.env.bus, PROVISIONER.name),
            timeout=timeout,
            what="the provisioner to exit",
        )


@contextlib.contextmanager
def simulated_vm(
    base: Path,
    *,
    config: Mapping[str, str] | None = None,
    dvd: bool = True,
    remote_access: Sequence[RemoteUser] = (),
    **provisioning: Any,
) -> Iterator[Vm]:
    with fabric_for(None, scenario(remote_access, **provisioning)) as fabric:
        env = Environment(config={**CONFIG, **(config or {})}, endpoint=fabric.address)
        with env:
            build_system(env.sandbox.root)
            dev, sysfs = base / "dev", product_uuid_tree(base / "sys", samples.VM_ID)
            dev.mkdir(parents=True)
            if dvd:
                fabric.write_ovf_image(dev / "sr0")
            env.make_activatable(PROVISIONER, "--dev-root", str(dev), "--sysfs-root", str(sysfs))
            yield Vm(env, fabric, dev, sysfs)
