"""provisioner: a VM provisioned from its DVD at service start, then deprovisioned for capture.

This step runs its own simulated VM (tests/provisioner/vm.py): a private bus with polkitd and
wire, the fabric simulator on a loopback address with the provisioning DVD as /dev/sr0, and a
sandbox root holding a minimal Debian-like system.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.callers import UNPRIVILEGED
from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.provisioner.vm import Vm, simulated_vm

from .common import heading, show

PROPS = ("State", "ProvisionedUser", "Source", "FailureReason")


def _provision(vm: Vm) -> None:
    started = time.monotonic()
    show("busctl get-property State (starts it)", vm.prop("State", user=UNPRIVILEGED))
    state = vm.wait_state("Provisioned", "Failed")
    show("State", f"{state} after {time.monotonic() - started:.2f} s")
    for prop in PROPS[1:]:
        show(prop, repr(vm.prop(prop)))
    show("fabric: health reports", [f"{s}/{sub}" if sub else s for s, sub in vm.health()])


def _show_vm(vm: Vm) -> None:
    entry = next(
        line
        for line in vm.path("/etc/passwd").read_text().splitlines()
        if line.startswith("azureuser:")
    )
    show("/etc/passwd", entry)
    shadow = next(
        line
        for line in vm.path("/etc/shadow").read_text().splitlines()
        if line.startswith("azureuser:")
    )
    show("/etc/shadow (hash)", shadow.split(":")[1][:24] + "...")
    keys = vm.path("/home/azureuser/.ssh/authorized_keys")
    show(
        "authorized_keys",
        f"{len(keys.read_text().splitlines())} keys, mode {oct(keys.stat().st_mode & 0o777)}",
    )
    show("/etc/sudoers.d/waagent", vm.path("/etc/sudoers.d/waagent").read_text().strip())
    keywords = ("PasswordAuthentication", "KbdInteractiveAuthentication", "ChallengeResponse")
    show(
        "/etc/ssh/sshd_config",
        [
            line
            for line in vm.path("/etc/ssh/sshd_config").read_text().splitlines()
            if line.startswith((*keywords, "ClientAliveInterval"))
        ],
    )
    show("host keys", sorted(p.name for p in vm.path("/etc/ssh").glob("ssh_host_*")))
    show("/etc/hostname", vm.path("/etc/hostname").read_text().strip())
    show("/var/lib/waagent/provisioned", vm.path("/var/lib/waagent/provisioned").read_text())


def _deprovision(vm: Vm) -> None:
    refused = vm.call("Deprovision", "b", "true", user=UNPRIVILEGED)
    show("Deprovision(true) as nobody", refused.error)
    result = subprocess.run(
        [PYTHON, "-m", "waagent.cli", "-deprovision+user", "-force"],
        capture_output=True,
        text=True,
        env=vm.env.bus.env(),
        timeout=120,
        check=False,
    )
    print("  $ waagent -deprovision+user -force")
    for line in (result.stdout + result.stderr).splitlines():
        print(f"    {line}")
    show("State", vm.prop("State"))
    show("azureuser in /etc/passwd", "azureuser:" in vm.path("/etc/passwd").read_text())
    show("/var/lib/waagent", sorted(p.name for p in vm.path("/var/lib/waagent").iterdir()))
    show("/etc/hostname", vm.path("/etc/hostname").read_text().strip())


def run(env: Environment) -> None:
    heading("provisioner: a simulated VM (own bus, polkitd, wire, fabric, DVD as /dev/sr0)")
    if os.geteuid() != 0:
        show("skipped", "needs root (useradd --root, polkitd, the fabric on port 80)")
        return
    with (
        tempfile.TemporaryDirectory(prefix="demo-provisioner-") as tmp,
        simulated_vm(Path(tmp)) as vm,
    ):
        _provision(vm)
        heading("provisioner: what the sandbox root holds now")
        _show_vm(vm)
        heading("provisioner: deprovision for capture")
        _deprovision(vm)
