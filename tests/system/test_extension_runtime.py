"""Where extension code runs, checked in a booted VM (systemd as PID 1, the units as installed).

An extension is root code the VM owner asked for: its commands must see the system a root login
sees, not extd's sandbox. The probe extension (tests/data/extensions/parity) records its view
and does what real extensions do (useradd, /etc, /var/cache, openssl on its protected settings,
an sshd_config edit and a restart of ssh.service); the tests compare its view with a root
login's and with PID 1's, and check the work took effect. Then: a command that outlives its
timeout is killed with everything it started (1011), and a command survives a SIGKILL of extd,
whose successor records its result exactly once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.harness.paths import TEST_DATA
from tests.harness.wait import WaitTimeout, wait_for
from tests.system.container import missing_tools
from tests.system.vm import Vm, provisioned_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

PARITY = "Contoso.Probe.Parity"
HANG = "Contoso.Probe.Hang"
WAITER = "Contoso.Probe.Waiter"
CPU_QUOTA, MEMORY_MB = 37, 333
ENABLE_TIMEOUT = 20
CONFIG = {
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Services.IdleTimeout": "30",
    "Extensions.GoalStatePeriod": "2",
    "Extensions.EnableTimeout": str(ENABLE_TIMEOUT),
    "Extensions.CPUQuota": str(CPU_QUOTA),
    "Extensions.MemoryLimitMB": str(MEMORY_MB),
}
SECRET = {"secret": "protected-value-only-root-sees"}


def view(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def status_of(vm: Vm, handler: str, since: int = 0) -> tuple[str, int, str]:
    """(status, code, message) of the handler's settings status in the newest status blob."""
    found = vm.handler_status(handler, since)
    if found is None:
        return "", 0, ""
    settings = found.get("runtimeSettingsStatus", {})
    status = settings.get("settingsStatus", {}).get("status", {})  # type: ignore[union-attr]
    message = status.get("formattedMessage", {}).get("message", "")
    return status.get("status", ""), int(status.get("code", 0)), message


def add(vm: Vm, handler: str, directory: str, **fields: object) -> int:
    before = len(vm.fabric.client.records("status"))
    versions = [{"version": "1.0.0", "handler_dir": str(TEST_DATA / "extensions" / directory)}]
    vm.fabric.client.add_extension(handler, version="1.0.0", versions=versions, **fields)
    return before


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with provisioned_vm(CONFIG) as booted:
        yield booted


@pytest.fixture(scope="module")
def parity(vm: Vm) -> dict[str, str]:
    """The probe's view, once its enable succeeded."""
    since = add(vm, PARITY, "parity", protected_settings=SECRET)
    wait_for(
        lambda: status_of(vm, PARITY, since)[0] == "success",
        timeout=120,
        what="the parity probe's success in the status blob",
    )
    return view(vm.run("cat", "/var/tmp/parity/extension.view").stdout)


# Credentials every process of the machine inherits from PID 1 (in this container, PID 1 has
# systemd-nspawn's bounding set and seccomp filter; on a VM, the full set and none).
FROM_PID1 = ("CapBnd", "CapEff", "NoNewPrivs", "Seccomp", "Seccomp_filters")


def test_an_extension_command_sees_the_system_a_root_login_sees(
    vm: Vm, parity: dict[str, str]
) -> None:
    directory = "/var/lib/waagent/Contoso.Probe.Parity-1.0.0"
    # A root login, but entered from the host: its credentials are the host's, not PID 1's.
    login = view(vm.run("sh", f"{directory}/view.sh", user="root").stdout)
    assert login["uid"] == "0" and login["write:/etc"] == "yes"  # the comparison means something
    assert {k: v for k, v in parity.items() if k not in FROM_PID1} == {
        k: v for k, v in login.items() if k not in FROM_PID1
    }
    pid1 = view(
        vm.run("grep", "-E", f"^({'|'.join(FROM_PID1)}):", "/proc/1/status").stdout.replace(
            ":\t", "="
        )
    )
    assert {k: parity[k] for k in FROM_PID1} == {k: pid1[k] for k in FROM_PID1}
    assert parity["mnt_ns_is_pid1s"] == parity["net_ns_is_pid1s"] == "yes"
    assert (parity["uid"], parity["NoNewPrivs"], parity["home"]) == ("0", "0", "/root")
    assert all(parity[f"write:{d}"] == "yes" for d in ("/etc", "/var/cache", "/root", "/home"))
    assert parity["af_inet"] == "yes"
    assert vm.run("cat", "/tmp/waagent-parity-tmp").stdout == "from the extension\n"


def test_extd_itself_stays_in_its_sandbox(vm: Vm, parity: dict[str, str]) -> None:
    vm.prop("org.waagent.Extensions1", "GoalStateId")  # activates it, were it idle
    pid = vm.show("waagent-extd.service", "MainPID")["MainPID"]
    assert pid != "0", "extd is not running"
    extd = view(
        vm.run("grep", "-E", f"^({'|'.join(FROM_PID1)}):", f"/proc/{pid}/status").stdout.replace(
            ":\t", "="
        )
    )
    assert extd["NoNewPrivs"] == "1"
    assert int(extd["Seccomp_filters"]) > int(parity["Seccomp_filters"])  # its own filter
    assert int(extd["CapBnd"], 16) < int(parity["CapBnd"], 16)
    assert not int(extd["CapBnd"], 16) & (1 << 5), "extd holds CAP_KILL"


def test_the_extensions_work_took_effect_as_for_any_root_program(
    vm: Vm, parity: dict[str, str]
) -> None:
    did = view(vm.run("cat", "/var/tmp/parity/did").stdout)
    errors = vm.run("cat", "/var/tmp/parity/errors").stdout
    assert did == {
        "useradd": "0",
        "var_cache": "0",
        "etc": "0",
        "openssl": "0",
        "ssh_restart": "0",
    }, errors
    assert vm.run("id", "-u", "parityuser").returncode == 0
    assert vm.run("test", "-d", "/home/parityuser").returncode == 0
    assert vm.run("cat", "/var/cache/parity/data").stdout == "cached\n"
    assert '"protected-value-only-root-sees"' in vm.run("cat", "/var/tmp/parity/protected").stdout
    assert vm.run("systemctl", "is-active", "ssh.service").stdout.strip() == "active"


def test_an_sshd_config_edit_by_an_extension_wins_over_provisioning(
    vm: Vm, parity: dict[str, str]
) -> None:
    effective = vm.run("sshd", "-T")
    assert effective.returncode == 0, effective.stderr
    assert "passwordauthentication yes" in effective.stdout.splitlines()


def test_the_command_ran_in_its_handlers_slice_with_the_configured_limits(
    vm: Vm, parity: dict[str, str]
) -> None:
    cgroup = vm.run("cat", "/var/tmp/parity/cgroup").stdout
    slice_name = f"azure-vmextensions-{PARITY}.slice"
    assert re.search(
        rf"/azure\.slice/azure-vmextensions\.slice/{re.escape(slice_name)}/"
        r"waagent-extension-enable-[0-9a-f]{16}\.service$",
        cgroup,
        re.M,
    ), cgroup
    limits = vm.show(slice_name, "CPUQuotaPerSecUSec", "MemoryMax")
    assert limits == {
        "CPUQuotaPerSecUSec": f"{CPU_QUOTA * 10}ms",
        "MemoryMax": str(MEMORY_MB << 20),
    }


def test_the_output_of_commands_is_readable_by_root_only(vm: Vm, parity: dict[str, str]) -> None:
    log_file = f"/var/log/azure/{PARITY}/CommandExecution.log"
    assert vm.run("stat", "-c", "%a %U", log_file).stdout.strip() == "600 root"
    assert "decrypted:" in vm.run("cat", log_file).stdout  # the secret it printed is there...
    assert vm.run("cat", log_file, user="nobody").returncode != 0  # ...for root only
    assert vm.run("ls", "/var/lib/waagent/.extd-output").stdout == ""  # removed once read


def test_finished_commands_leave_no_unit_behind(vm: Vm, parity: dict[str, str]) -> None:
    units = vm.run(
        "systemctl", "list-units", "--all", "--plain", "--no-legend", "waagent-extension-*.service"
    )
    assert units.stdout.strip() == ""


def waiter_running(vm: Vm) -> tuple[int, str]:
    """Add the waiter and wait for its enable to run: the status records before, its unit."""
    since = add(vm, WAITER, "waiter")
    wait_for(
        lambda: vm.run("test", "-s", "/var/tmp/waiter/starts").returncode == 0,
        timeout=60,
        what="the waiter's enable to start",
    )
    unit = vm.run(
        "systemctl", "list-units", "--plain", "--no-legend", "waagent-extension-enable-*"
    ).stdout.split()[0]
    return since, unit


def waiter_released(vm: Vm, since: int) -> str:
    """Let the waiter's enable exit 7; once reported, check it ran once: its command log."""
    # Written whole, then renamed: the waiter never reads a half-written (empty) code.
    released = vm.run(
        "sh",
        "-c",
        "echo 7 > /var/tmp/waiter/.release && mv /var/tmp/waiter/.release /var/tmp/waiter/release",
    )
    assert released.returncode == 0, released.stderr
    wait_for(
        lambda: status_of(vm, WAITER, since)[1] == 1009,
        timeout=60,
        what="the waiter's failure (exit code 7) in the status blob",
    )
    status, _, message = status_of(vm, WAITER, since)
    assert status == "error" and "Non-zero exit code: 7" in message
    assert "released with 7" in message
    assert len(vm.run("cat", "/var/tmp/waiter/starts").stdout.splitlines()) == 1
    return vm.run("cat", f"/var/log/azure/{WAITER}/CommandExecution.log").stdout


def test_extd_killed_while_a_command_runs_the_next_extd_records_its_result_once(
    vm: Vm, parity: dict[str, str]
) -> None:
    since, unit = waiter_running(vm)
    before = vm.show("waagent-extd.service", "MainPID", "NRestarts")
    killed = vm.run("systemctl", "kill", "--signal=KILL", "--kill-who=main", "waagent-extd.service")
    assert killed.returncode == 0, killed.stderr

    def restarted() -> bool:
        now = vm.show("waagent-extd.service", "MainPID", "NRestarts", "ActiveState")
        return now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])

    wait_for(restarted, timeout=30, what="systemd to restart extd")
    assert vm.show(unit, "SubState")["SubState"] == "running"  # the command lived on
    log_text = waiter_released(vm, since)
    assert log_text.count("exit code 7") == 1
    assert "(extd restarted)" in log_text
    assert (
        int(vm.show("waagent-extd.service", "NRestarts")["NRestarts"])
        == int(before["NRestarts"]) + 1
    )


COUNTER = "Contoso.Probe.Counter"
TRIALS = 20
UPDATES = {7: "1.1.0", 14: "1.2.0"}  # trial -> the version the fabric asks for from then on


def test_extd_killed_at_any_moment_loses_no_goal_state_and_runs_nothing_twice(
    vm: Vm, parity: dict[str, str]
) -> None:
    """20 goal states (settings changes, two version updates), each followed by a SIGKILL of
    extd at a different moment: every one is processed, each operation runs once."""
    directory = str(TEST_DATA / "extensions" / "counter")
    versions = [{"version": v, "handler_dir": directory} for v in ("1.0.0", "1.1.0", "1.2.0")]
    since = len(vm.fabric.client.records("status"))
    vm.fabric.client.add_extension(COUNTER, version="1.0.0", versions=versions)
    wait_for(lambda: status_of(vm, COUNTER, since)[0] == "success", timeout=60, what="the add")
    kills = 0
    version = "1.0.0"
    for trial in range(1, TRIALS + 1):
        since = len(vm.fabric.client.records("status"))
        if trial in UPDATES:
            version = UPDATES[trial]
            vm.fabric.client.update_extension(COUNTER, version)
        vm.fabric.client.set_extension_settings(COUNTER, public={"trial": trial}, seq_no=trial)
        vm.run(
            "busctl",
            "call",
            "org.waagent.Wire1",
            "/org/waagent/Wire1",
            "org.waagent.Wire1",
            "Refresh",
        )
        time.sleep((trial % 5) * 0.1)  # the moment of the kill moves across the processing
        killed = vm.run(
            "systemctl", "kill", "--signal=KILL", "--kill-who=main", "waagent-extd.service"
        )
        kills += killed.returncode == 0

        try:
            wait_for(
                lambda t=trial, v=version, n=since: trial_done(vm, t, v, n),  # type: ignore[misc]
                timeout=90,
                what=f"trial {trial}'s goal state to succeed",
            )
        except WaitTimeout:
            journal = vm.run("journalctl", "-n", "80", "-u", "waagent-extd", "-u", "waagent-wire")
            raise AssertionError(
                f"trial {trial}: {vm.handler_status(COUNTER, since)}\n{journal.stdout}"
            ) from None
    lines = vm.run("cat", "/var/tmp/counter/ops").stdout.splitlines()
    counts = {
        op: sum(1 for line in lines if line.startswith(f"{op} "))
        for op in ("install", "enable", "disable", "update", "uninstall")
    }
    print(f"\n  {TRIALS} goal states, extd SIGKILLed during {kills}; operations run: {counts}")
    print("  " + "; ".join(lines))
    for trial in range(1, TRIALS + 1):
        assert sum(1 for line in lines if line.startswith(f"enable {trial} ")) == 1, lines
    assert counts["install"] == 1 + len(UPDATES), lines
    assert counts["update"] == counts["uninstall"] == counts["disable"] == len(UPDATES), lines
    assert kills >= TRIALS // 2  # the kills did land


def trial_done(vm: Vm, trial: int, version: str, since: int) -> bool:
    found = vm.handler_status(COUNTER, since)
    if found is None or found.get("handlerVersion") != version:
        return False
    settings = found.get("runtimeSettingsStatus") or {}
    return bool(
        settings.get("sequenceNumber") == trial  # type: ignore[union-attr]
        and status_of(vm, COUNTER, since)[0] == "success"
    )


def test_a_command_that_outlives_its_timeout_is_killed_with_all_it_started(
    vm: Vm, parity: dict[str, str]
) -> None:
    since = add(vm, HANG, "hang")
    wait_for(
        lambda: status_of(vm, HANG, since)[1] == 1011,
        timeout=ENABLE_TIMEOUT + 60,
        what="the hanging enable to time out (1011)",
    )
    assert status_of(vm, HANG, since)[2].startswith(f"Timeout({ENABLE_TIMEOUT})")
    pids = {
        n: vm.run("cat", f"/var/tmp/hang/{n}").stdout.strip() for n in ("main", "child", "daemon")
    }
    assert all(p.isdigit() for p in pids.values()), pids
    for name, pid in pids.items():
        wait_for(
            lambda pid=pid: vm.run("test", "-e", f"/proc/{pid}").returncode != 0,  # type: ignore[misc]
            timeout=10,
            what=f"the hanging enable's {name} ({pid}) to be killed",
        )
