"""A Debian VM booting with systemd as PID 1, the agent installed, the fabric at 168.63.129.16.

One container is booted for the module (it takes about 15 s to prepare); each test checks one
promise of the design against it: a clean boot, provisioning recorded by the fabric, the user and
keys, introspection, polkit for an unprivileged logged-in user, bus activation and idle exit,
extensions through a bus-activated extd. Each service's memory and CPU are printed as figures.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.wait import wait_for
from tests.system.container import Container, missing_tools
from tests.system.vm import Vm, booted_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

SERVICES = {
    "wire": "org.waagent.Wire1",
    "provisioner": "org.waagent.Provisioner1",
    "diskd": "org.waagent.Disk1",
    "extd": "org.waagent.Extensions1",
}
CONFIG = {
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Services.IdleTimeout": "5",
    "Extensions.GoalStatePeriod": "2",
}


def installed(program: str) -> bool:
    return (Path(__file__).resolve().parents[2] / "services" / program / "__main__.py").exists()


def verify_units(box: Container) -> None:
    box.verify_output = subprocess.run(  # type: ignore[attr-defined]
        [
            "systemd-analyze",
            "verify",
            f"--root={box.rootfs}",
            "--man=no",
            *[f"/usr/lib/systemd/system/waagent-{p}.service" for p in SERVICES],
            "/usr/lib/systemd/system/waagent-wirepoll.service",
            "/usr/lib/systemd/system/waagent.target",
            # An instance, as extd starts them: %f is the handler's events folder.
            "/usr/lib/systemd/system/waagent-extension-events@var-log-azure-A.B-events.path",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with booted_vm(CONFIG, verify_units) as booted:
        yield booted


def test_the_units_verify_without_a_single_warning(vm: Vm) -> None:
    result = vm.box.verify_output  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_the_system_boots_to_running_with_no_failed_unit(vm: Vm) -> None:
    wait_for(
        lambda: vm.run("systemctl", "is-system-running").stdout.strip() == "running",
        timeout=60,
        what="the system to be running",
    )
    assert vm.run("systemctl", "--failed", "--no-legend").stdout.strip() == ""


def test_the_fabric_recorded_provisioning_then_ready(vm: Vm) -> None:
    health = wait_for(
        lambda: (
            [(r["state"], r["substatus"]) for r in vm.fabric.client.records("health")][-2:]
            if any(r["state"] == "Ready" for r in vm.fabric.client.records("health"))
            else None
        ),
        timeout=60,
        what="a Ready report",
    )
    assert health == [("NotReady", "Provisioning"), ("Ready", None)]


def test_the_user_and_its_keys_exist_inside(vm: Vm) -> None:
    user = vm.scenario.provisioning.user_name
    wait_for(lambda: vm.run("getent", "passwd", user).returncode == 0, timeout=60, what=user)
    keys = vm.run("cat", f"/home/{user}/.ssh/authorized_keys").stdout
    for key in vm.scenario.provisioning.ssh_public_keys:
        if key.value:
            assert key.value in keys
    owner = vm.run("stat", "-c", "%U %a", f"/home/{user}/.ssh/authorized_keys").stdout.split()
    assert owner == [user, "600"]
    # (A container has no DMI product_uuid, so the marker holds no instance id here.)
    assert vm.run("test", "-e", "/var/lib/waagent/provisioned").returncode == 0


def journal_monotonic(vm: Vm, unit: str, text: str) -> float:
    """When `unit` logged a line containing `text` this boot (seconds, the monotonic clock)."""
    out = vm.run("journalctl", "-b", "-u", unit, "-o", "json", "--no-pager").stdout
    for line in out.splitlines():
        entry = json.loads(line)
        if text in str(entry.get("MESSAGE", "")):
            return int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6
    raise AssertionError(f"{unit} never logged {text!r}")


def started_at(vm: Vm, unit: str) -> float:
    at = vm.monotonic(unit)
    assert at is not None, f"{unit} never started"
    return at


def test_sshd_serves_the_new_host_key_and_starts_once_the_user_and_keys_exist(vm: Vm) -> None:
    """The provisioner's unit counts as started (READY=1) when this boot's local work is done:
    sshd starts after it, with the regenerated host key and the user's keys in place, and
    diskd formats the resource disk after it (as the classic agent did after provisioning)."""
    wait_for(
        lambda: vm.show("ssh.service", "ActiveState")["ActiveState"] == "active",
        timeout=60,
        what="sshd",
    )
    keys_done = journal_monotonic(vm, "waagent-provisioner.service", "step ssh host keys done")
    assert started_at(vm, "ssh.service") > keys_done
    assert started_at(vm, "waagent-diskd.service") > keys_done
    served = vm.run("ssh-keyscan", "-t", "ed25519", "127.0.0.1").stdout.split()
    on_disk = vm.run("cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
    assert served[1:3] == on_disk[0:2], (served, on_disk)


def test_the_firewall_boot_unit_waits_for_a_known_endpoint_then_stays_active(vm: Vm) -> None:
    """First boot: no endpoint is known, so the unit is skipped (no Python program beside the
    provisioner); once wire wrote the endpoint the refresh pulled it in, and it stays active
    for nftables' reloads to run it again (tests/system/test_firewall.py)."""
    skipped = journal_monotonic(
        vm, "waagent-network-setup.service", "ConditionPathExists=/var/lib/waagent/WireServer"
    )
    assert skipped < started_at(vm, "waagent-provisioner.service") + 1
    wait_for(
        lambda: (
            vm.run("cat", "/var/lib/waagent/WireServerEndpoint").stdout.strip() == "168.63.129.16"
        ),
        timeout=60,
        what="the endpoint wire found",
    )
    wait_for(
        lambda: vm.show("waagent-network-setup.service", "ActiveState")["ActiveState"] == "active",
        timeout=60,
        what="the boot unit pulled in by the refresh",
    )
    assert vm.show("waagent-firewall-refresh.service", "Result")["Result"] == "success"


def test_wire_runs_unprivileged_in_its_sandbox(vm: Vm) -> None:
    vm.prop("org.waagent.Wire1", "State")
    show = vm.run(
        "systemctl", "show", "-p", "User", "-p", "CapabilityBoundingSet", "waagent-wire"
    ).stdout
    assert "User=waagent-wire" in show
    assert "CapabilityBoundingSet=\n" in show + "\n"
    wait_for(lambda: vm.prop("org.waagent.Wire1", "State") == "Ready", timeout=60, what="Ready")


@pytest.mark.parametrize("program", sorted(SERVICES))
def test_every_service_can_be_introspected(vm: Vm, program: str) -> None:
    if not installed(program):
        pytest.skip(f"{program} is not part of this tree yet")
    name = SERVICES[program]
    result = vm.run("busctl", "introspect", name, "/" + name.replace(".", "/"), name)
    assert result.returncode == 0, result.stderr
    assert f"{name}" in vm.run("busctl", "list", "--no-pager").stdout


def test_an_unprivileged_logged_in_user_is_refused_deprovision_by_polkit(vm: Vm) -> None:
    assert vm.run("useradd", "-m", "-s", "/bin/sh", "alice").returncode == 0
    name = SERVICES["provisioner"]
    call = ["busctl", "call", name, "/" + name.replace(".", "/"), name, "Deprovision", "b", "false"]
    # systemd opens a PAM "login" session for alice: a real logind session, as over SSH.
    result = vm.run(
        "systemd-run",
        "--quiet",
        "--wait",
        "--pipe",
        "-p",
        "PAMName=login",
        "-p",
        "User=alice",
        "sh",
        "-c",
        f"loginctl list-sessions --no-legend; {shlex.join(call)}",
    )
    assert " alice" in result.stdout, "no logind session for alice"
    assert result.returncode != 0
    assert "not authorized for org.waagent.deprovision" in result.stderr, result.stderr
    # Nothing was deprovisioned.
    assert vm.run("test", "-e", "/var/lib/waagent/provisioned").returncode == 0
    assert vm.run("getent", "passwd", vm.scenario.provisioning.user_name).returncode == 0


def test_idle_services_exit_and_come_back_on_the_next_call(vm: Vm) -> None:
    unit = "waagent-diskd.service"
    vm.prop(SERVICES["diskd"], "State")
    vm.box.wait_unit(unit, "inactive", timeout=60)
    state = vm.prop(SERVICES["diskd"], "State")  # bus activation through systemd
    assert state in ("NoResourceDisk", "NotStarted")
    assert vm.run("systemctl", "show", "-P", "ActiveState", unit).stdout.strip() == "active"


def test_an_extension_added_at_the_fabric_is_processed_by_a_bus_activated_extd(vm: Vm) -> None:
    if not installed("extd"):
        pytest.skip("extd is not part of this tree yet")
    before = len(vm.fabric.client.records("status"))
    vm.fabric.client.add_extension("Contoso.Tools.Hello", version="1.0.0")

    def succeeded() -> bool:
        for record in vm.fabric.client.records("status")[before:]:
            handlers = record["document"]["aggregateStatus"]["handlerAggregateStatus"]
            for handler in handlers:
                status = handler.get("runtimeSettingsStatus", {}).get("settingsStatus", {})
                if handler["handlerName"] == "Contoso.Tools.Hello" and (
                    status.get("status", {}).get("status") == "success"
                ):
                    return True
        return False

    wait_for(succeeded, timeout=120, what="the new extension's success in the status blob")
    assert "waagent-extd.service" in vm.run("systemctl", "list-units", "--all", "waagent-*").stdout


def process_figures(vm: Vm, unit: str) -> tuple[str, str]:
    """Memory and CPU of a unit: systemd's accounting, or /proc of its main process where the
    container's cgroups (v1 here, no controllers delegated) leave accounting unset."""
    fields = dict(
        line.split("=", 1)
        for line in vm.run(
            "systemctl", "show", "-p", "MainPID", "-p", "MemoryCurrent", "-p", "CPUUsageNSec", unit
        ).stdout.splitlines()
        if "=" in line
    )
    memory, cpu = fields.get("MemoryCurrent", ""), fields.get("CPUUsageNSec", "")
    if memory.isdigit() and cpu.isdigit():
        return f"{int(memory) / 2**20:.1f} MiB (cgroup)", f"{int(cpu) / 1e9:.3f} s"
    pid = fields.get("MainPID", "0")
    if pid in ("", "0"):
        return "-", "-"
    rollup = vm.run("cat", f"/proc/{pid}/smaps_rollup").stdout.splitlines()
    values = {line.split(":")[0]: line.split()[1] for line in rollup[1:] if ":" in line}
    stat = vm.run("cat", f"/proc/{pid}/stat").stdout.rsplit(")", 1)[-1].split()
    ticks = int(vm.run("getconf", "CLK_TCK").stdout.strip() or 100)
    seconds = (int(stat[11]) + int(stat[12])) / ticks if len(stat) > 12 else 0.0
    rss = int(values.get("Rss", 0)) / 1024
    pss = int(values.get("Pss", 0)) / 1024
    return f"{rss:.1f} MiB RSS, {pss:.1f} MiB PSS", f"{seconds:.2f} s"


def test_figures_memory_and_cpu_of_each_service(vm: Vm) -> None:
    print()
    states = {}
    for program in sorted([*SERVICES, "wirepoll"]):
        unit = f"waagent-{program}.service"
        states[program] = vm.run("systemctl", "show", "-P", "ActiveState", unit).stdout.strip()
        memory, cpu = process_figures(vm, unit)
        print(f"  {unit:<28} {states[program]:<9} memory {memory:<32} cpu {cpu}")
    assert states["wirepoll"] == "active"  # the one resident process (wire's poller)


def agent_processes(vm: Vm) -> list[str]:
    """The agent programs running (their launchers in /usr/libexec/waagent)."""
    listing = vm.run("ps", "-eo", "user:16,args", "--no-headers").stdout.splitlines()
    return sorted(
        line.split()[0] + " " + line.split("/usr/libexec/waagent/", 1)[1].split()[0]
        for line in listing
        if "/usr/libexec/waagent/" in line
    )


def poll_state(vm: Vm) -> dict[str, Any]:
    text = vm.run("cat", "/var/lib/waagent-wire/poll_state.json").stdout
    return json.loads(text) if text else {}


def test_the_poller_is_the_only_resident_agent_process_and_wakes_wire(vm: Vm) -> None:
    """Issue 17: at idle only waagent-wirepoll runs; a new goal state still gets processed by a
    full wire it wakes, which leaves again once done."""
    wait_for(
        lambda: agent_processes(vm) == ["waagent-wire waagent-wirepoll"],
        timeout=120,
        what="the poller alone at idle",
    )
    before = poll_state(vm)
    assert before["endpoint"] and before["incarnation"]
    # Plain HTTP only: the resident process maps no TLS library (common/lean.py), ~4 MiB less.
    pid = vm.run("systemctl", "show", "-P", "MainPID", "waagent-wirepoll.service").stdout.strip()
    mapped = vm.run("cat", f"/proc/{pid}/maps").stdout
    assert "python3" in mapped
    assert "libssl" not in mapped and "libcrypto" not in mapped
    provisioner = vm.show("waagent-provisioner.service", "InvocationID")["InvocationID"]
    incarnation = str(vm.fabric.client.bump_incarnation())
    wait_for(
        lambda: poll_state(vm).get("incarnation") == incarnation,
        timeout=120,
        what=f"wire woken to process incarnation {incarnation} and gone idle again",
    )
    journal = vm.run("journalctl", "-u", "waagent-wire", "-o", "cat").stdout
    assert "poll now: new goal state" in journal
    # The woken wire knows this boot's provisioning is done and its JIT users cleared
    # (poll_state.json): the provisioner is not started again for a new goal state.
    assert "provisioning is done (an earlier wire of this boot saw it done)" in journal
    assert vm.show("waagent-provisioner.service", "InvocationID")["InvocationID"] == provisioner
    wait_for(
        lambda: agent_processes(vm) == ["waagent-wire waagent-wirepoll"],
        timeout=120,
        what="the poller alone again",
    )
