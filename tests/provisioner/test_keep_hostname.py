"""Provisioning.MonitorHostName end to end on a private bus: the real wire watches the kernel's
hostname event and calls the bus-activated provisioner's KeepHostname, which sets the name
again (in the sandbox: /etc/hostname, the dhclient configuration, the record; never the
machine's name, and no publication from a sandbox root). The change that wakes wire is made in
a UTS namespace of its own, so the machine keeps its name; the provisioner compares the
machine's (unchanged) name with a record the test made stale."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from waagent.common.names import WIRE

from .vm import Vm, simulated_vm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs root and unshare (the change is made in a UTS namespace of its own)",
    ),
]

CONFIG = {"Provisioning.MonitorHostName": "y", "Extensions.GoalStatePeriod": "2"}
RECORD = "/var/lib/waagent/published_hostname"


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Vm]:
    with simulated_vm(tmp_path, config=CONFIG) as simulated:
        simulated.prop("State")  # activates the provisioner, which provisions at start
        assert simulated.wait_state("Provisioned", "Failed") == "Provisioned"
        simulated.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping")  # wire watches
        # Wire's call at its start: the provisioned name (imagecheck) is not the machine's.
        wait_for(
            lambda: simulated.path(RECORD).read_text() == socket.gethostname(),
            timeout=30,
            what="wire's KeepHostname at its start",
        )
        yield simulated


def test_a_hostname_change_reaches_the_provisioner_through_wire(vm: Vm) -> None:
    machine = socket.gethostname()
    vm.path(RECORD).write_text("stale-name")
    subprocess.run(["unshare", "-u", "hostname", "elsewhere"], check=True, timeout=10)
    wait_for(
        lambda: vm.path(RECORD).read_text() == machine,
        timeout=30,
        what="the record of the machine's name",
    )
    assert vm.path("/etc/hostname").read_text() == f"{machine}\n"
    assert socket.gethostname() == machine


def test_keep_hostname_is_for_wire_and_root_only(vm: Vm) -> None:
    refused = vm.call("KeepHostname", user=UNPRIVILEGED)
    assert not refused.ok
    assert "denied" in refused.error.lower() or "access" in refused.error.lower(), refused.error
    vm.path(RECORD).write_text(socket.gethostname())
    assert vm.call("KeepHostname").data == [""]  # nothing changed
