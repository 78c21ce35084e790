"""A run killed at any point, then started again, provisions exactly once.

The kill is a BaseException raised at the start of a step (the service dies between two
steps) or right after a command finished (it dies in the middle of a step); nothing of the
first run's process survives except what it wrote. A fresh provisioner on the same machine
then finishes: one user, one sudoers line, each key once, custom data run once, the marker,
and a Ready report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from waagent.common.commands import Completed
from waagent.common.config import AgentConfig
from waagent.provisioner.models import State

from . import samples
from .machine import Machine, config

STEPS = [
    "read the provisioning data",
    "validate",
    "hostname",
    "publish hostname",
    "user",
    "password",
    "sudoers",
    "sshd settings",
    "ssh keys",
    "custom data",
    "root password",
    "ssh host keys",
    "restart sshd",
    "marker",
    "KVP report",
    "report ready",
]
COMMANDS = ["useradd", "chpasswd", "ssh-keygen", "custom data"]


class Killed(BaseException):
    """The process died here."""


class KillAfter:
    """Runs commands for real; dies right after the first one of `program` finished."""

    def __init__(self, machine: Machine, program: str) -> None:
        self.machine = machine
        self.inner = machine.runner
        self.program = program

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
        result = await self.inner.run(
            argv, timeout=timeout, input=input, check=check, env=env, cwd=cwd
        )
        name = "custom data" if argv[0].endswith("/CustomData") else argv[0]
        if name == self.program:
            raise Killed(name)
        return result


def prepare(machine: Machine) -> tuple[str, AgentConfig]:
    key = samples.ssh_key("once@laptop")
    counter = machine.base / "custom-data-runs"
    machine.insert_dvd(
        samples.ovf_env(
            password=samples.PASSWORD,
            ssh_public_keys=[samples.SshPublicKey(path=samples.AUTHORIZED_KEYS, value=key)],
            custom_data=f"#!/bin/sh\necho ran >> {counter}\n",
        )
    )
    cfg = config(**{"Provisioning.ExecuteCustomData": "y", "Provisioning.DeleteRootPassword": "y"})
    return key, cfg


def finish_and_check(
    machine: Machine, key: str, cfg: AgentConfig, *, custom_data_runs: int = 1
) -> None:
    machine.runner = (
        machine.runner if not isinstance(machine.runner, KillAfter) else machine.runner.inner
    )  # type: ignore[unreachable]
    status = asyncio.run(machine.provisioner(cfg).provision())
    assert status.state == State.PROVISIONED
    passwd = machine.path("/etc/passwd").read_text().splitlines()
    assert sum(1 for line in passwd if line.startswith("azureuser:")) == 1
    assert machine.path("/etc/sudoers.d/waagent").read_text() == "azureuser ALL=(ALL) ALL\n"
    assert machine.path(samples.AUTHORIZED_KEYS).read_text() == key + "\n"
    sshd_config = machine.path("/etc/ssh/sshd_config").read_text()
    assert sshd_config.count("PasswordAuthentication") == 1
    shadow = machine.path("/etc/shadow").read_text().splitlines()
    assert [line for line in shadow if line.startswith("root:")] == ["root:*LOCK*:14600::::::"]
    assert (machine.base / "custom-data-runs").read_text() == "ran\n" * custom_data_runs
    assert machine.path("/var/lib/waagent/provisioned").read_text() == samples.VM_ID.upper()
    assert machine.wire.reports[-1] == ("Ready", "", "")
    assert machine.wire.reports.count(("Ready", "", "")) == 1


@pytest.mark.parametrize("step", STEPS)
def test_a_run_killed_before_a_step_finishes_once_when_started_again(
    machine: Machine, step: str
) -> None:
    key, cfg = prepare(machine)
    first = machine.provisioner(cfg)

    def die(name: str) -> None:
        if name == step:
            raise Killed(name)

    first.step_listeners.append(die)
    with pytest.raises(Killed):
        asyncio.run(first.provision())
    finish_and_check(machine, key, cfg)


@pytest.mark.parametrize("program", COMMANDS)
def test_a_run_killed_right_after_a_command_finishes_once_when_started_again(
    machine: Machine, program: str
) -> None:
    key, cfg = prepare(machine)
    real = machine.runner
    machine.runner = KillAfter(machine, program)  # type: ignore[assignment]
    with pytest.raises(Killed):
        asyncio.run(machine.provisioner(cfg).provision())
    machine.runner = real
    # Killed between the script's end and its record: the one case where it runs again.
    finish_and_check(machine, key, cfg, custom_data_runs=2 if program == "custom data" else 1)
