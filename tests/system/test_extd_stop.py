"""extd stopped by systemd (SIGTERM: `systemctl stop`, a restart, an idle stop) while a command
runs, checked in a booted VM: the command runs on in its unit, and the next extd adopts it and
records its result; it never runs the command a second time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system.container import missing_tools
from tests.system.test_extension_runtime import waiter_released, waiter_running
from tests.system.vm import Vm, provisioned_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

CONFIG = {
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Extensions.GoalStatePeriod": "2",
}


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with provisioned_vm(CONFIG) as booted:
        yield booted


def test_extd_stopped_while_a_command_runs_the_next_extd_adopts_it(vm: Vm) -> None:
    since, unit = waiter_running(vm)
    stopped = vm.run("systemctl", "stop", "waagent-extd.service")
    assert stopped.returncode == 0, stopped.stderr
    assert vm.show(unit, "SubState")["SubState"] == "running"  # the command lived on
    started = vm.run("systemctl", "start", "waagent-extd.service")
    assert started.returncode == 0, started.stderr
    log_text = waiter_released(vm, since)  # the command ran once
    assert log_text.count("Enable: running") == 1
    assert f"Enable: waiting for {unit} (extd restarted)" in log_text
    assert log_text.count("Enable: exit code 7") == 1
