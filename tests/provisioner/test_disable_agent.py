"""ProvisionGuestAgent=false on both provisioning paths (reference §6.3 step 10): the empty
`<Lib.Dir>/disable_agent` is written before anything wakes wire (which hands the goal state to
extd at once), and, as classic, a later `true` never removes it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from dataclasses import dataclass, field

from waagent.common.errors import Failed
from waagent.common.models.goal_state import Certificate
from waagent.provisioner.models import State

from . import samples
from .fakes import FakeWire
from .machine import Machine, config

DISABLE_AGENT = "/var/lib/waagent/disable_agent"
CLOUD_INIT = {"Provisioning.Agent": "cloud-init", "Provisioning.SshHostKeyPairType": "rsa"}


@dataclass
class WatchingWire(FakeWire):
    """Records, at each call to wire, whether disable_agent existed already."""

    machine: Machine | None = None
    seen: list[bool] = field(default_factory=list)

    def _note(self) -> None:
        assert self.machine is not None
        self.seen.append(self.machine.path(DISABLE_AGENT).exists())

    async def report_health(self, state: str, substatus: str, description: str) -> None:
        self._note()
        await super().report_health(state, substatus, description)

    async def certificates(self) -> list[Certificate]:
        self._note()
        return await super().certificates()


def run(machine: Machine, **kw: object) -> State:
    provisioner = machine.provisioner(**kw)  # type: ignore[arg-type]
    with contextlib.suppress(Failed):
        asyncio.run(provisioner.provision())
    return provisioner.status.state


def cloud_init_results(machine: Machine, document: bytes) -> None:
    """What cloud-init leaves: its copy of ovf-env.xml and an RSA host key."""
    machine.path("/var/lib/waagent/ovf-env.xml").write_bytes(document)
    for suffix in ("", ".pub"):
        machine.path(f"/etc/ssh/ssh_host_rsa_key{suffix}").unlink(missing_ok=True)
    key = machine.path("/etc/ssh/ssh_host_rsa_key")
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "rsa", "-f", str(key)], check=True)


def test_the_waagent_path_writes_it_before_wire_is_first_called(machine: Machine) -> None:
    machine.wire = WatchingWire(machine=machine)
    machine.insert_dvd(samples.ovf_env(provision_guest_agent=False))
    assert run(machine) == State.PROVISIONED
    assert machine.path(DISABLE_AGENT).read_bytes() == b""
    assert machine.wire.seen and all(machine.wire.seen)


def test_the_cloud_init_path_writes_it_before_reporting(machine: Machine) -> None:
    machine.wire = WatchingWire(machine=machine)
    cloud_init_results(machine, samples.ovf_env(provision_guest_agent=False))
    assert run(machine, cfg=config(**CLOUD_INIT)) == State.PROVISIONED
    assert machine.path(DISABLE_AGENT).read_bytes() == b""
    assert machine.wire.seen and all(machine.wire.seen)


def test_the_cloud_init_path_leaves_the_agent_enabled_when_the_ovf_says_true(
    machine: Machine,
) -> None:
    cloud_init_results(machine, samples.ovf_env(provision_guest_agent=True))
    assert run(machine, cfg=config(**CLOUD_INIT)) == State.PROVISIONED
    assert not machine.path(DISABLE_AGENT).exists()


def test_a_later_true_does_not_remove_it_as_classic(machine: Machine) -> None:
    machine.insert_dvd(samples.ovf_env(provision_guest_agent=False))
    assert run(machine) == State.PROVISIONED
    machine.path("/var/lib/waagent/provisioned").unlink()  # provisioned again (a new run)
    machine.insert_dvd(samples.ovf_env(provision_guest_agent=True))
    assert run(machine) == State.PROVISIONED
    assert machine.path(DISABLE_AGENT).exists()
