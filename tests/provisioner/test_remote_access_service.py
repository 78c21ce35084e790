"""JIT remote access end to end: the fabric simulator serves RemoteAccess, the real wire fetches it
on a new incarnation and hands it to the bus-activated provisioner, which changes the sandbox
system with the real shadow tools. Real bus, real polkitd, the bus policy of the repository.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from waagent.common.names import WIRE
from waagent.fabric.scenario import RemoteUser

from .system import openssl_sha512, passwd_entry, shadow_fields, shadow_hash
from .vm import Vm, simulated_vm

pytestmark = pytest.mark.integration

PASSWORD = "Jit-Pässword-1"
SECOND_PASSWORD = "An0ther-One"
CONFIG = {"Extensions.GoalStatePeriod": "1"}


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Vm]:
    users = [RemoteUser(name="support", password=PASSWORD)]
    with simulated_vm(tmp_path, config=CONFIG, remote_access=users) as simulated:
        yield simulated


def provisioned(vm: Vm) -> Vm:
    vm.prop("State")  # activates the provisioner, which provisions at start
    assert vm.wait_state("Provisioned", "Failed") == "Provisioned", vm.prop("FailureReason")
    return vm


def jit_users(vm: Vm, expected: dict[str, str], timeout: float = 30) -> None:
    wait_for(
        lambda: vm.prop("RemoteAccessUsers") == expected,
        timeout=timeout,
        what=f"RemoteAccessUsers == {expected}",
    )
    assert vm.prop("RemoteAccessUsers", user=UNPRIVILEGED) == expected


def set_users(vm: Vm, *users: dict[str, Any]) -> None:
    """A new incarnation with these JIT users; wire is asked to poll at once."""
    vm.fabric.set_remote_access(list(users))
    vm.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Refresh")


def sudoers(vm: Vm) -> list[str]:
    return vm.path("/etc/sudoers.d/waagent").read_text().splitlines()


def test_a_jit_user_appears_with_its_expiry_and_can_log_in_with_its_password(vm: Vm) -> None:
    provisioned(vm)
    jit_users(vm, {"support": "2038-01-02"})
    entry = passwd_entry(vm.root, "support")
    assert entry is not None and entry[4] == "JIT_Account"
    shadow = shadow_fields(vm.root, "support")
    assert int(shadow[7]) == (date(2038, 1, 2) - date(1970, 1, 1)).days
    assert openssl_sha512(PASSWORD, shadow[1]) == shadow[1]
    assert "support ALL=(ALL) ALL" in sudoers(vm)
    assert vm.prop("RemoteAccessError", user=UNPRIVILEGED) == ""
    # wire asked for the document with the transport certificate, AES128_CBC first.
    asked = [r for r in vm.fabric.requests() if "comp=remoteaccess" in r.path]
    assert asked and asked[0].headers.get("x-ms-cipher-name") == "AES128_CBC"


def test_a_user_the_fabric_drops_disappears_and_a_goal_state_without_users_removes_all(
    vm: Vm,
) -> None:
    provisioned(vm)
    jit_users(vm, {"support": "2038-01-02"})
    second = {
        "name": "second",
        "password": SECOND_PASSWORD,
        "expiration": "Sat, 31 Dec 2039 10:00:00 GMT",
    }
    set_users(vm, second)
    jit_users(vm, {"second": "2040-01-01"})
    assert passwd_entry(vm.root, "support") is None
    assert not vm.path("/home/support").exists()
    assert not any(line.startswith("support ") for line in sudoers(vm))
    set_users(vm)
    jit_users(vm, {})
    assert passwd_entry(vm.root, "second") is None
    assert passwd_entry(vm.root, "azureuser") is not None  # the provisioned user stays


def test_an_expired_user_is_deleted(vm: Vm) -> None:
    provisioned(vm)
    jit_users(vm, {"support": "2038-01-02"})
    set_users(
        vm, {"name": "support", "password": PASSWORD, "expiration": "Tue, 01 Jan 2019 00:00:00 GMT"}
    )
    jit_users(vm, {})
    assert passwd_entry(vm.root, "support") is None


def test_a_non_jit_user_of_the_same_name_is_left_alone_and_the_error_is_reported(vm: Vm) -> None:
    provisioned(vm)
    jit_users(vm, {"support": "2038-01-02"})
    before = (passwd_entry(vm.root, "azureuser"), shadow_hash(vm.root, "azureuser"), sudoers(vm))
    set_users(
        vm,
        {"name": "azureuser", "password": SECOND_PASSWORD},
        {"name": "broken", "password": "x", "password_blob": "bm90IENNUw=="},
        {"name": "helper", "password": SECOND_PASSWORD},
    )
    jit_users(vm, {"helper": "2038-01-02"})
    error = vm.prop("RemoteAccessError", user=UNPRIVILEGED)
    assert "azureuser: an account 'azureuser' exists that is not a JIT user" in error
    assert "broken: its password cannot be decrypted" in error
    assert (passwd_entry(vm.root, "azureuser"), shadow_hash(vm.root, "azureuser")) == before[:2]
    assert [line for line in sudoers(vm) if line.startswith("azureuser")] == [
        line for line in before[2] if line.startswith("azureuser")
    ]
    assert passwd_entry(vm.root, "broken") is None
    # Support sees it as the classic agent reports it: telemetry RemoteAccessHandling.
    events = wait_for(
        lambda: [
            event["params"]
            for record in vm.fabric.records("telemetry")  # one per Provider
            for event in record["events"]
            if event["params"].get("Operation") == "RemoteAccessHandling"
        ],
        timeout=20,
        what="RemoteAccessHandling telemetry",
    )
    assert {e["OperationSuccess"] for e in events} == {False}
    assert any("azureuser" in e["Message"] for e in events)
    assert not any(SECOND_PASSWORD in json.dumps(e) for e in events)


def test_only_root_and_wire_may_apply_remote_access(vm: Vm) -> None:
    provisioned(vm)
    jit_users(vm, {"support": "2038-01-02"})
    update = json.dumps({"goal_state_incarnation": "9", "document": None})
    refused = vm.call("ApplyRemoteAccess", "s", update, user=UNPRIVILEGED)
    assert not refused.ok and "Access denied" in refused.error  # the bus policy
    assert vm.prop("RemoteAccessUsers") == {"support": "2038-01-02"}
    bad = vm.call("ApplyRemoteAccess", "s", '{"document": 1}')
    assert not bad.ok and "invalid remote access update: goal_state_incarnation" in bad.error
    assert vm.call("ApplyRemoteAccess", "s", update).ok  # root may, by hand
    jit_users(vm, {})
