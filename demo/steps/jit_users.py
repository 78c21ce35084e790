"""JIT remote access: a user the fabric's RemoteAccess document asks for appears in the sandbox
root with its expiry, its password and sudo rights, and disappears when the document drops it.

Like the provisioner step, this runs its own simulated VM (tests/provisioner/vm.py): wire fetches
the document on a new incarnation and hands it to the bus-activated provisioner, which runs the
real shadow tools (`useradd --root`) on the sandbox.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from tests.provisioner.system import openssl_sha512, passwd_entry, shadow_fields
from tests.provisioner.vm import Vm, simulated_vm
from waagent.common.names import WIRE
from waagent.fabric.scenario import RemoteUser

from .common import heading, show

PASSWORD = "Jit-Demo-Pass-1"  # noqa: S105  (a demo account in a sandbox)
EXPIRATION = "Fri, 01 Jan 2038 00:00:00 GMT"


def _users(vm: Vm, expected: dict[str, str]) -> dict[str, str]:
    wait_for(lambda: vm.prop("RemoteAccessUsers") == expected, timeout=60, what="the JIT users")
    shown: dict[str, str] = vm.prop("RemoteAccessUsers", user=UNPRIVILEGED)
    return shown


def _show_user(vm: Vm) -> None:
    entry = passwd_entry(vm.root, "support")
    shadow = shadow_fields(vm.root, "support")
    assert entry is not None and shadow is not None
    show("/etc/passwd", ":".join(entry))
    disabled_on = date(1970, 1, 1) + timedelta(days=int(shadow[7]))
    show("/etc/shadow: account expires", disabled_on.isoformat())
    show("password hash verifies", openssl_sha512(PASSWORD, shadow[1]) == shadow[1])
    sudoers = vm.path("/etc/sudoers.d/waagent").read_text().splitlines()
    show("/etc/sudoers.d/waagent", [line for line in sudoers if line.startswith("support ")])


def run(_env: object) -> None:
    heading("JIT remote access: a user from the goal state's RemoteAccess document")
    if os.geteuid() != 0:
        show("skipped", "needs root (useradd --root, polkitd, the fabric on port 80)")
        return
    users = [RemoteUser(name="support", password=PASSWORD, expiration=EXPIRATION)]
    with (
        tempfile.TemporaryDirectory(prefix="demo-jit-") as tmp,
        simulated_vm(
            Path(tmp), config={"Extensions.GoalStatePeriod": "1"}, remote_access=users
        ) as vm,
    ):
        vm.prop("State")  # a boot: the provisioner starts and provisions
        show("provisioning", vm.wait_state("Provisioned", "Failed"))
        show("RemoteAccessUsers (as nobody)", _users(vm, {"support": "2038-01-02"}))
        _show_user(vm)
        heading("The fabric drops the user (a new incarnation without it)")
        vm.fabric.set_remote_access([])
        vm.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Refresh")
        show("RemoteAccessUsers", _users(vm, {}))
        show("support in /etc/passwd", passwd_entry(vm.root, "support") is not None)
        show("/home/support left", vm.path("/home/support").exists())
