"""`waagent -deprovision[+user] [-force]`: the classic interaction, as a client of the service."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.paths import PYTHON
from tests.harness.users import as_user

from .system import passwd_entry
from .test_service import provisioned
from .vm import Vm, simulated_vm

pytestmark = pytest.mark.integration

WARNINGS = [
    "WARNING! The waagent service will be stopped.",
    "WARNING! All SSH host key pairs will be deleted.",
    "WARNING! Cached DHCP leases will be deleted.",
    "WARNING! root password will be disabled. You will not be able to login as root.",
    "WARNING! /etc/resolv.conf will be deleted.",
]


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Vm]:
    with simulated_vm(tmp_path) as simulated:
        yield provisioned(simulated)


def waagent(
    vm: Vm, *args: str, answer: str = "", user: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [PYTHON, "-m", "waagent.cli", *args]
    if user is not None:
        argv = [*as_user(user), *argv]
    return subprocess.run(
        argv,
        input=answer,
        capture_output=True,
        text=True,
        env=vm.env.bus.env(),
        timeout=120,
        check=False,
    )


def test_deprovision_force_prints_the_warnings_and_does_it_without_asking(vm: Vm) -> None:
    result = waagent(vm, "-deprovision", "-force")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == WARNINGS
    assert not vm.path("/var/lib/waagent/provisioned").exists()
    assert passwd_entry(vm.root, "azureuser") is not None


def test_deprovision_asks_and_an_answer_other_than_yes_changes_nothing(vm: Vm) -> None:
    result = waagent(vm, "-deprovision", answer="n\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\n".join(WARNINGS) + "\nDo you want to proceed (y/n)"
    assert vm.path("/var/lib/waagent/provisioned").exists()


def test_deprovision_user_with_yes_deletes_the_user(vm: Vm) -> None:
    result = waagent(vm, "--deprovision+user", answer="Y\n")
    assert result.returncode == 0, result.stderr
    assert "WARNING! azureuser account and entire home directory will be deleted." in result.stdout
    assert passwd_entry(vm.root, "azureuser") is None


def test_an_unprivileged_admin_without_an_authentication_agent_is_refused(vm: Vm) -> None:
    result = waagent(vm, "-deprovision", "-force", user=UNPRIVILEGED)
    assert result.returncode == 1
    assert result.stderr.strip() == "waagent: not authorized for org.waagent.deprovision"
    assert vm.path("/var/lib/waagent/provisioned").exists()
