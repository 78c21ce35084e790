"""A JIT user in a booted VM: the fabric asks for it, it authenticates with its password through
PAM (sudo -S asks pam_unix, which checks the shadow hash and the account's expiry) and has sudo
rights, and it is gone once the fabric drops it. The installed units, the real system bus.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import pytest

from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.vm import Vm, provisioned_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

PROVISIONER = "org.waagent.Provisioner1"
PASSWORD = "Jit-Pässword-1"
CONFIG = {
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Extensions.GoalStatePeriod": "2",
}


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with provisioned_vm(CONFIG) as booted:
        yield booted


def jit_users(vm: Vm, expected: dict[str, str]) -> None:
    wait_for(
        lambda: vm.prop(PROVISIONER, "RemoteAccessUsers") == expected,
        timeout=90,
        what=f"RemoteAccessUsers == {expected}",
    )


def sudo_as(vm: Vm, user: str, password: str) -> tuple[int, str]:
    """`sudo -S` as `user`, the password on stdin: PAM authenticates it as at a login."""
    script = f"printf '%s\\n' {shlex.quote(password)} | sudo -S -k -p '' id -u"
    done = vm.run("runuser", "-u", user, "--", "sh", "-c", script)
    return done.returncode, done.stdout.strip()


def test_a_jit_user_authenticates_with_its_password_and_goes_when_the_fabric_drops_it(
    vm: Vm,
) -> None:
    vm.fabric.client.set_remote_access([{"name": "support", "password": PASSWORD}])
    jit_users(vm, {"support": "2038-01-02"})
    assert sudo_as(vm, "support", PASSWORD) == (0, "0")
    assert sudo_as(vm, "support", "not-the-password")[0] != 0
    vm.fabric.client.set_remote_access([])
    jit_users(vm, {})
    assert vm.run("getent", "passwd", "support").returncode != 0
    assert vm.run("getent", "passwd", vm.scenario.provisioning.user_name).returncode == 0
