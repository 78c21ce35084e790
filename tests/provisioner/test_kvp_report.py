"""The provisioning result in the Hyper-V KVP guest pool, read back after real runs.

Each test runs the bus-activated provisioner against the fabric simulator (real wire, real bus)
in a sandbox root, then reads `/var/lib/hyperv/.kvp_pool_1` there as the host would.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.wait import wait_for
from waagent.common.kvp import GUEST, RECORD_SIZE, KvpPool, decode, encode, pool_path
from waagent.common.root import Root
from waagent.provisioner.kvp_report import AZURE_MAX_VALUE, REPORT_KEY

from . import samples
from .vm import SshPublicKey, Vm, simulated_vm

pytestmark = pytest.mark.integration

MARKER = "/var/lib/waagent/provisioned"

# hv_kvp_daemon's way of writing: a POSIX record lock on the whole file, a record appended.
DAEMON = """
import fcntl, sys, time
with open(sys.argv[1], "r+b") as f:
    fcntl.lockf(f, fcntl.LOCK_EX)
    f.seek(0, 2)
    f.write(bytes.fromhex(sys.argv[2]))
    f.flush()
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def report(vm: Vm) -> dict[str, str]:
    """The PROVISIONING_REPORT record decoded as the platform does (`|`, quoted with `'`)."""
    value = KvpPool(Root(vm.root), GUEST).read().get(REPORT_KEY)
    assert value is not None, "no PROVISIONING_REPORT in the guest pool"
    assert len(value.encode()) <= AZURE_MAX_VALUE
    fields = next(csv.reader([value], delimiter="|", quotechar="'"))
    return dict(field.split("=", 1) for field in fields)


def pool(vm: Vm) -> Path:
    return vm.path(str(pool_path(GUEST)))


def wait_report(vm: Vm) -> dict[str, str]:
    wait_for(
        lambda: KvpPool(Root(vm.root), GUEST).read().get(REPORT_KEY) is not None,
        timeout=60,
        what="the KVP report",
    )
    return report(vm)


def daemon_pool(vm: Vm) -> bytes:
    """Records hv_kvp_daemon keeps in the guest pool before the agent starts."""
    data = encode("HostName", "acceptance-vm") + encode("OSName", "Debian GNU/Linux")
    pool(vm).parent.mkdir(parents=True, exist_ok=True)
    pool(vm).write_bytes(data)
    return data


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Vm]:
    with simulated_vm(tmp_path) as simulated:
        yield simulated


def test_a_provisioned_vm_reports_success_with_its_vm_id(vm: Vm) -> None:
    assert vm.prop("State") in ("Provisioning", "Provisioned")
    assert vm.wait_state("Provisioned", "Failed") == "Provisioned"
    fields = report(vm)
    assert list(fields) == ["result", "agent", "vm_id", "timestamp"]
    assert fields["result"] == "success"
    assert fields["agent"] == "WALinuxAgent/3.0.0.0"
    assert fields["vm_id"] == samples.VM_ID
    assert fields["timestamp"].endswith("+00:00")
    assert pool(vm).stat().st_size == RECORD_SIZE


def test_a_bad_ovf_is_reported_with_its_reason(tmp_path: Path) -> None:
    with simulated_vm(tmp_path, user_name="bad;name", ssh_public_keys=[], key_pairs=[]) as vm:
        assert vm.wait_state("Provisioned", "Failed") == "Failed"
        fields = report(vm)
        assert fields["result"] == "error"
        assert fields["reason"] == vm.prop("FailureReason")
        assert "invalid user name 'bad;name'" in fields["reason"]
        assert fields["documentation_url"] == "https://aka.ms/linuxprovisioningerror"


def test_media_that_is_not_xml_fails_before_the_fabric_and_is_reported(tmp_path: Path) -> None:
    with simulated_vm(tmp_path) as vm:
        samples.dvd(vm.dev, b"<Environment><unclosed>")
        vm.fabric.go_down()
        vm.prop("State")  # activates the service (its health report then waits for the fabric)
        fields = wait_report(vm)
        assert fields["result"] == "error"
        assert "not well-formed XML" in fields["reason"]
        assert vm.health() == []  # the fabric heard nothing: the pool is the only report


def test_with_the_fabric_unreachable_the_host_still_learns_the_result(tmp_path: Path) -> None:
    """Provisioning needs nothing of the fabric here (a key by value): it ends while wire
    still retries its first health report, and the pool already says so."""
    key = [SshPublicKey(path=samples.AUTHORIZED_KEYS, value=samples.ssh_key("me@laptop"))]
    with simulated_vm(tmp_path, ssh_public_keys=key, key_pairs=[]) as vm:
        vm.fabric.go_down()
        vm.prop("State")  # activates the service
        assert wait_report(vm)["result"] == "success"
        assert vm.health() == []


def test_records_of_hv_kvp_daemon_stay_intact(vm: Vm) -> None:
    before = daemon_pool(vm)
    assert vm.wait_state("Provisioned", "Failed") == "Provisioned"
    data = pool(vm).read_bytes()
    assert data[: len(before)] == before
    assert len(data) == len(before) + RECORD_SIZE
    assert report(vm)["result"] == "success"


def test_the_report_waits_for_a_writer_holding_the_lock(vm: Vm) -> None:
    daemon_pool(vm)
    theirs = encode("IntegrationServicesVersion", "6.3.9600.18692")
    holder = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(pool(vm)), theirs.hex(), "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        vm.prop("State")  # activates the service while the lock is held
        # The marker is written just before the report: from then on the run waits for the lock.
        wait_for(lambda: vm.path(MARKER).exists(), timeout=60, what="the provisioned marker")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert decode(pool(vm).read_bytes()).get(REPORT_KEY) is None  # no lock: it is held
            assert ("Ready", "") not in vm.health()
    finally:
        holder.kill()
        holder.wait()
    assert wait_report(vm)["result"] == "success"
    keys = [r.key for r in KvpPool(Root(vm.root), GUEST).read().records]
    assert keys == ["HostName", "OSName", "IntegrationServicesVersion", REPORT_KEY]
