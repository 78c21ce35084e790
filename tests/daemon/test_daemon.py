"""`waagent -daemon` on a host without systemd: the services as its children on the system bus."""

from __future__ import annotations

import pwd
import signal
import subprocess

import pytest

from tests.cli.system import CliSystem, children_of, installed_services, kill
from tests.harness.procs import alive
from tests.harness.wait import WaitTimeout, wait_for
from waagent.common.names import DISK, PROVISIONER, WIRE, WIRE_USER

pytestmark = pytest.mark.integration


def status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def up(system: CliSystem) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    daemon = system.start_daemon()
    return daemon, system.wait_up(installed_services())


def test_every_installed_service_comes_up_as_a_child_of_the_daemon(system: CliSystem) -> None:
    daemon, owners = up(system)
    assert set(owners) >= {DISK.name, WIRE.name, PROVISIONER.name}
    assert set(owners.values()) <= set(children_of(daemon.pid))


def test_wire_runs_as_its_user_with_its_own_groups_and_no_capabilities(
    system: CliSystem,
) -> None:
    _, owners = up(system)
    wire_user = pwd.getpwnam(WIRE_USER)
    pid = owners[WIRE.name]
    assert status_field(pid, "Uid").split() == [str(wire_user.pw_uid)] * 4
    assert status_field(pid, "Groups").split() == [str(wire_user.pw_gid)]
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status_field(pid, caps), 16) == 0, caps
    assert status_field(owners[DISK.name], "Uid").split()[0] == "0"


def test_the_services_start_in_the_classic_order_disk_wire_provisioning(
    system: CliSystem,
) -> None:
    up(system)

    def started() -> list[str]:
        lines = [line for line in system.log_text().splitlines() if " is up (pid " in line]
        return [line.split(" is up ")[0].split()[-1] for line in lines]

    wait_for(lambda: len(started()) == len(installed_services()), what="every service up")
    assert started()[:3] == [DISK.name, WIRE.name, PROVISIONER.name]


def test_a_key_without_effect_is_warned_about_once_although_every_service_starts(
    system: CliSystem,
) -> None:
    system.env.sandbox.write_config({"OS.EnableFIPS": "y", "Provisioning.Agent": "disabled"})
    up(system)
    warnings = [line for line in system.log_text().splitlines() if "has no effect" in line]
    assert len(warnings) == 1, warnings
    assert (
        "OS.EnableFIPS=y has no effect: not built: openssl is not run with OPENSSL_FIPS=1"
        in warnings[0]
    )


def test_services_stay_resident_under_the_daemon(system: CliSystem) -> None:
    system.env.sandbox.write_config({"Services.IdleTimeout": "1", "Provisioning.Agent": "disabled"})
    _, owners = up(system)
    with pytest.raises(WaitTimeout):
        wait_for(lambda: system.owner(DISK.name) != owners[DISK.name], timeout=4)


def test_a_service_killed_with_sigkill_is_restarted_with_a_growing_delay(
    system: CliSystem,
) -> None:
    _, owners = up(system)
    pids = [owners[DISK.name]]
    for _ in range(2):
        kill(pids[-1])
        pids.append(
            wait_for(
                lambda: (pid := system.owner(DISK.name)) not in (None, *pids) and pid,
                timeout=30,
                what="diskd to be back with a new pid",
            )
        )
    log = system.log_text()
    assert f"{DISK.name} (pid {pids[0]}) was killed by SIGKILL; restarting in 1 s" in log
    assert f"{DISK.name} (pid {pids[1]}) was killed by SIGKILL; restarting in 2 s" in log
    assert len(set(pids)) == 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_or_sigint_stops_every_child_and_the_daemon_exits_0(
    system: CliSystem, signum: signal.Signals
) -> None:
    daemon, owners = up(system)
    children = children_of(daemon.pid)
    assert system.pid_file.read_text().strip() == str(daemon.pid)
    daemon.send_signal(signum)
    assert daemon.wait(60) == 0
    assert [pid for pid in [*children, *owners.values()] if alive(pid)] == []
    assert not system.pid_file.exists()
    assert "waagent daemon stopped" in system.log_text()
    assert "Traceback" not in system.output()


def test_a_second_daemon_exits_0_saying_one_runs(system: CliSystem) -> None:
    daemon, owners = up(system)
    result = system.waagent("-daemon", f"-root:{system.root}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"waagent -daemon is already running (pid {daemon.pid})\n"
    assert system.owner(DISK.name) == owners[DISK.name]


def test_a_daemon_killed_outright_takes_its_services_with_it(system: CliSystem) -> None:
    daemon, owners = up(system)
    daemon.kill()
    daemon.wait()
    wait_for(
        lambda: not any(alive(pid) for pid in owners.values()),
        timeout=30,
        what="the services to follow the daemon (parent-death signal)",
    )
