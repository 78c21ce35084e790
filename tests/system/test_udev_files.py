"""Issue 15's files in the booted VM: the persistent-net rules moved into Lib.Dir by
waagent-nic-names.path at boot and again when written later (an inotify watch, not a poll);
the udev rules, their program and the logrotate file installed by `make install`; diskd's
runtime SCSI-timeout rule written from its sandbox at boot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.wait import wait_for
from tests.system.container import Container, missing_tools
from tests.system.vm import Vm, booted_vm

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

CONFIG = {"OS.RootDeviceScsiTimeout": "300", "Services.IdleTimeout": "5"}
GENERATED = "/etc/udev/rules.d/70-persistent-net.rules"
RULE = (
    'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="00:0d:3a:1b:2c:3d", '
    'KERNEL=="eth*", NAME="eth0"\n'
)


def rules_from_an_older_image(box: Container) -> None:
    target = box.path(GENERATED)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(RULE)


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with booted_vm(CONFIG, before_boot=rules_from_an_older_image) as booted:
        yield booted


def moved(vm: Vm) -> bool:
    gone = vm.run("test", "-e", GENERATED).returncode != 0
    kept = vm.run("cat", "/var/lib/waagent/70-persistent-net.rules").stdout
    return gone and RULE.strip() in kept


def test_the_persistent_net_rules_are_moved_aside_at_boot(vm: Vm) -> None:
    wait_for(lambda: moved(vm), timeout=60, what="70-persistent-net.rules moved into Lib.Dir")
    result = vm.show("waagent-nic-names.service", "Result")
    assert result["Result"] == "success"
    assert vm.show("waagent-nic-names.path", "ActiveState")["ActiveState"] == "active"


def test_the_rules_written_again_later_are_moved_again(vm: Vm) -> None:
    wait_for(lambda: moved(vm), timeout=60, what="the boot-time move")
    again = RULE.replace("eth0", "eth1")
    vm.run("sh", "-c", f"printf '%s' '{again}' > {GENERATED}")
    wait_for(
        lambda: (
            vm.run("test", "-e", GENERATED).returncode != 0
            and "eth1" in vm.run("cat", "/var/lib/waagent/70-persistent-net.rules").stdout
        ),
        timeout=60,
        what="the new file moved",
    )


def test_the_udev_rules_their_program_and_the_logrotate_file_are_installed(vm: Vm) -> None:
    for path in (
        "/usr/lib/udev/rules.d/66-azure-storage.rules",
        "/usr/lib/udev/rules.d/99-azure-product-uuid.rules",
        "/etc/logrotate.d/waagent",
    ):
        assert vm.run("test", "-f", path).returncode == 0, path
    rules = vm.run("cat", "/usr/lib/udev/rules.d/66-azure-storage.rules").stdout
    assert 'IMPORT{program}="/usr/libexec/waagent/waagent-azure-disk %p"' in rules
    # The installed program runs on the VM's python: a device outside VMBus gets no name.
    named = vm.run("/usr/libexec/waagent/waagent-azure-disk", "/devices/virtual/mem/null")
    assert (named.returncode, named.stdout, named.stderr) == (0, "", "")


def test_diskd_writes_the_scsi_timeout_rule_from_its_sandbox(vm: Vm) -> None:
    def rule() -> str:
        return vm.run("cat", "/run/udev/rules.d/90-waagent-scsi-timeout.rules").stdout

    text = wait_for(rule, timeout=60, what="diskd's runtime udev rule")
    assert 'ATTR{device/timeout}="300"' in text
