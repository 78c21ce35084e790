"""Provisioner1.ConfigureSerialConsole over a real bus with a real polkitd (the simulated VM).

The service's root is the sandbox tree, so the GRUB configuration is reported as not
regenerated; the edit itself is the same code `waagent -serialconsole -root:` runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED

from .test_boot_settings import DEBIAN_GRUB
from .vm import Vm, simulated_vm

pytestmark = pytest.mark.integration

ACTION = "org.waagent.serial-console"


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Vm]:
    with simulated_vm(tmp_path) as simulated:
        simulated.path("/etc/default").mkdir(parents=True, exist_ok=True)
        simulated.path("/etc/default/grub").write_text(DEBIAN_GRUB)
        yield simulated


def test_an_unprivileged_caller_is_refused_by_polkit_and_nothing_changes(vm: Vm) -> None:
    reply = vm.call("ConfigureSerialConsole", "bb", "true", "false", user=UNPRIVILEGED)
    assert not reply.ok
    assert f"({ACTION})" in reply.error and "needs authentication" in reply.error
    interactive = vm.call(
        "ConfigureSerialConsole", "bb", "true", "true", user=UNPRIVILEGED, interactive=True
    )
    assert f"not authorized for {ACTION}" in interactive.error
    assert vm.path("/etc/default/grub").read_text() == DEBIAN_GRUB


def test_root_turns_it_on_once_sees_the_dry_run_diff_and_turns_it_off(vm: Vm) -> None:
    dry = vm.call("ConfigureSerialConsole", "bb", "true", "true")
    assert dry.ok, dry.error
    changed, diff, regeneration, message = dry.data
    assert (changed, message) == (["/etc/default/grub"], "dry run")
    assert regeneration.startswith("skipped: ") and "sandbox root" in regeneration
    assert '+GRUB_CMDLINE_LINUX_DEFAULT="quiet console=ttyS0 earlyprintk=ttyS0"' in diff
    assert vm.path("/etc/default/grub").read_text() == DEBIAN_GRUB

    on = vm.call("ConfigureSerialConsole", "bb", "true", "false")
    assert on.ok, on.error
    assert on.data[0] == ["/etc/default/grub"]
    assert "sandbox root" in on.data[2]
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet console=ttyS0 earlyprintk=ttyS0"' in (
        vm.path("/etc/default/grub").read_text()
    )
    again = vm.call("ConfigureSerialConsole", "bb", "true", "false")
    assert again.data[0] == [] and "already" in again.data[3]

    off = vm.call("ConfigureSerialConsole", "bb", "false", "false")
    assert off.ok, off.error
    assert vm.path("/etc/default/grub").read_text() == DEBIAN_GRUB
