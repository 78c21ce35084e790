"""extd stopped by systemd (SIGTERM: `systemctl stop`, a restart, an idle stop) while a command
runs, checked in a booted VM: the command runs on in its unit, and the next extd adopts it and
records its result; it never runs the command a second time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.test_extension_runtime import WAITER, add, status_of
from tests.system.vm import Vm, booted_vm

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
    with booted_vm(CONFIG) as booted:
        wait_for(
            lambda: any(r["state"] == "Ready" for r in booted.fabric.client.records("health")),
            timeout=120,
            what="provisioning to report Ready",
        )
        yield booted


def test_extd_stopped_while_a_command_runs_the_next_extd_adopts_it(vm: Vm) -> None:
    since = add(vm, WAITER, "waiter")
    wait_for(
        lambda: vm.run("test", "-s", "/var/tmp/waiter/starts").returncode == 0,
        timeout=60,
        what="the waiter's enable to start",
    )
    unit = vm.run(
        "systemctl", "list-units", "--plain", "--no-legend", "waagent-extension-enable-*"
    ).stdout.split()[0]
    stopped = vm.run("systemctl", "stop", "waagent-extd.service")
    assert stopped.returncode == 0, stopped.stderr
    assert vm.show(unit, "SubState")["SubState"] == "running"  # the command lived on
    started = vm.run("systemctl", "start", "waagent-extd.service")
    assert started.returncode == 0, started.stderr
    vm.run("sh", "-c", "echo 7 > /var/tmp/waiter/release")
    wait_for(
        lambda: status_of(vm, WAITER, since)[1] == 1009,
        timeout=60,
        what="the waiter's failure (exit code 7) in the status blob",
    )
    status, _, message = status_of(vm, WAITER, since)
    assert status == "error" and "released with 7" in message
    assert len(vm.run("cat", "/var/tmp/waiter/starts").stdout.splitlines()) == 1
    log_text = vm.run("cat", f"/var/log/azure/{WAITER}/CommandExecution.log").stdout
    assert log_text.count("Enable: running") == 1
    assert f"Enable: waiting for {unit} (extd restarted)" in log_text
    assert log_text.count("Enable: exit code 7") == 1
