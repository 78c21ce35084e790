"""`waagent -daemon` on a bus of its own: services on demand through the bus daemon's activation.

Only the resident poller (waagent-wirepoll), the bus daemon and the supervisor stay; every
service, wire included, is started by dbus-daemon from the activation files the supervisor wrote,
and leaves when idle.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.system import (
    NO_FIREWALL,
    NO_PROVISIONING,
    QUIET,
    CliSystem,
    children_of,
    installed_services,
)
from tests.daemon.conftest import BUS_DAEMON, busctl
from tests.harness.procs import alive, pids_with_marker
from tests.harness.wait import WaitTimeout, wait_for
from waagent.common.names import DISK, EXTENSIONS, SERVICES, WIRE
from waagent.daemon.activation import SERVICE_DIR
from waagent.daemon.launch import RESIDENT, wire_user

pytestmark = pytest.mark.integration


def on_demand() -> list[str]:
    resident = {SERVICES[p].name for p in RESIDENT if p in SERVICES}
    return [name for name in installed_services() if name not in resident]


def wire_uid() -> int:
    user = wire_user()
    return 0 if user is None else user.pw_uid


def configure(idle_timeout: str) -> dict[str, str]:
    """The system's quiet configuration, with the services' idle timeout."""
    return {**QUIET, **NO_PROVISIONING, **NO_FIREWALL, "Services.IdleTimeout": idle_timeout}


def agent_pids(system: CliSystem) -> set[int]:
    """Every process of this daemon: each has the sandbox in its command line."""
    return {pid for pid in pids_with_marker(str(system.root)) if alive(pid)}


@pytest.fixture
def idle(system: CliSystem, address: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The daemon, once each on-demand service started at boot and left again: (daemon, bus)."""
    system.env.sandbox.write_config(configure("2"))
    daemon = system.start_daemon(address=address)
    owners = system.wait_up([BUS_DAEMON, WIRE.name], address=address)

    def started_once() -> bool:
        return all(f"{name} is up (started on demand)" in system.log_text() for name in on_demand())

    wait_for(started_once, timeout=60, what="every on-demand service started at boot")

    def still_up() -> list[str]:
        return [name for name in on_demand() if system.owner(name, address) is not None]

    try:
        wait_for(
            lambda: not still_up(), timeout=60, what="the on-demand services to exit when idle"
        )
    except WaitTimeout as exc:  # say which one stayed, and why the log thinks so
        raise AssertionError(f"{exc}: {still_up()} still on the bus\n{system.output()}") from None
    yield daemon, owners[BUS_DAEMON]


def test_at_idle_only_the_resident_service_the_bus_and_the_supervisor_remain(
    system: CliSystem, address: str, idle: tuple[subprocess.Popen[bytes], int]
) -> None:
    daemon, bus = idle
    poller = system.poller()
    assert poller is not None
    assert set(children_of(daemon.pid)) == {bus, poller}
    assert system.owner(WIRE.name, address) is None  # wire left: the poller polls
    # Forked from the supervisor (daemon/forked.py), so the standard library's pages are shared,
    # and then what setpriv makes of an exec'd child: the user, its groups, no capabilities.
    assert (
        Path(f"/proc/{poller}/cmdline").read_bytes()
        == Path(f"/proc/{daemon.pid}/cmdline").read_bytes()
    )
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{poller}/status").read_text().splitlines()
    )
    assert status["Uid"].split() == [str(wire_uid())] * 4
    user = wire_user()
    if user is not None:
        assert status["Gid"].split() == [str(user.pw_gid)] * 4
        groups = os.getgrouplist(user.pw_name, user.pw_gid)
        assert sorted(map(int, status["Groups"].split())) == sorted(groups)
        for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[caps], 16) == 0, (caps, status[caps])
    # Its own session, as the exec'd children's, and none of the supervisor's descriptors (the
    # pid file's lock would otherwise outlive the supervisor for as long as the poller runs).
    stat = Path(f"/proc/{poller}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(stat[3]) == poller  # the session id (field 6)
    pid_file = str(system.pid_file)
    assert pid_file in {str(p.readlink()) for p in Path(f"/proc/{daemon.pid}/fd").iterdir()}
    assert pid_file not in {str(p.readlink()) for p in Path(f"/proc/{poller}/fd").iterdir()}
    # A one-shot may still be finishing (netd's firewall set-up when wire found the endpoint).
    expected = {daemon.pid, bus, poller}
    wait_for(lambda: agent_pids(system) == expected, timeout=30, what=f"only {expected} left")
    listed = busctl(address, "list", "--activatable")
    assert all(name in listed.stdout for name in on_demand()), listed.stdout
    # The supervisor is the resident half (daemon/resident.py): the libraries the start-up
    # half read the configuration with went with the exec. Compiled parts show in its maps.
    mapped = Path(f"/proc/{daemon.pid}/maps").read_text()
    assert "pydantic_core" not in mapped and "dbus_fast" not in mapped
    # Neither resident process speaks TLS, so neither maps its libraries (common/lean.py).
    for pid in (daemon.pid, poller):
        mapped = Path(f"/proc/{pid}/maps").read_text()
        assert "libssl" not in mapped and "libcrypto" not in mapped, pid
    continues = Path(f"/proc/{daemon.pid}/cmdline").read_bytes().split(b"\0")
    assert b"waagent.daemon" in continues and b"-daemon" in continues


def test_the_forked_poller_is_forked_again_when_killed_and_follows_a_killed_supervisor(
    system: CliSystem, address: str, idle: tuple[subprocess.Popen[bytes], int]
) -> None:
    daemon, _ = idle
    first = system.poller()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: system.poller() not in (None, first), timeout=30, what="a new poller forked")
    assert f"wirepoll (pid {first}) was killed by SIGKILL; restarting in 1 s" in system.log_text()
    second = system.poller()
    assert second is not None
    daemon.kill()  # no stop in order: the parent-death signal, armed after the identity change
    daemon.wait()
    wait_for(lambda: not alive(second), timeout=30, what="the poller to follow the supervisor")


def test_a_bus_call_activates_a_service_as_root_which_exits_when_idle(
    system: CliSystem, address: str, idle: tuple[subprocess.Popen[bytes], int]
) -> None:
    daemon, _ = idle
    exits = system.log_text().count(f"diskd idle: releasing {DISK.name}")
    reply = busctl(address, "get-property", DISK.name, DISK.path, DISK.interface, "Mounted")
    assert reply.returncode == 0, reply.stderr
    pid = system.owner(DISK.name, address)
    assert pid not in children_of(daemon.pid)  # started by the bus daemon, not the supervisor
    assert f"Activating service name='{DISK.name}'" in system.output()
    with open(f"/proc/{pid}/status") as status:
        uid = next(line for line in status if line.startswith("Uid:"))
    assert uid.split()[1:] == ["0"] * 4
    wait_for(lambda: not alive(pid), timeout=30, what="diskd to exit when idle")
    assert system.log_text().count(f"diskd idle: releasing {DISK.name}") == exits + 1


def test_a_goal_state_with_an_extension_is_processed_by_an_activated_extd(
    system: CliSystem, address: str, idle: tuple[subprocess.Popen[bytes], int]
) -> None:
    log = system.log_text()
    assert "goal state incarnation_1 processed" in log
    assert "extd idle: releasing org.waagent.Extensions1" in log


def test_an_extension_event_file_starts_extd(
    system: CliSystem, address: str, idle: tuple[subprocess.Popen[bytes], int]
) -> None:
    events = system.env.sandbox.path("/var/log/azure/Test.Handler/events")
    events.mkdir(parents=True)
    (events / "1.json").write_text("[]")
    wait_for(
        lambda: system.owner(EXTENSIONS.name, address),
        timeout=30,
        what="extd started for the event file",
    )
    assert f"extension events in {events}: starting extd" in system.log_text()


def test_sigterm_stops_every_process_the_activated_ones_too(
    system: CliSystem, address: str, idle: tuple[subprocess.Popen[bytes], int]
) -> None:
    daemon, _ = idle
    system.env.sandbox.write_config(configure("600"))  # read at its start
    reply = busctl(address, "get-property", DISK.name, DISK.path, DISK.interface, "Mounted")
    assert reply.returncode == 0, reply.stderr
    disk = system.owner(DISK.name, address)
    assert disk is not None
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0
    assert agent_pids(system) == set()
    assert f"stopping activated service (pid {disk})" in system.log_text()  # before the bus
    assert "Traceback" not in system.output()
    assert list(system.env.sandbox.path(SERVICE_DIR).iterdir()) == []


def test_with_only_the_poller_resident_a_new_goal_state_wakes_wire_which_processes_it(
    system: CliSystem, address: str
) -> None:
    system.env.sandbox.write_config(configure("2") | {"Extensions.GoalStatePeriod": "2"})
    system.start_daemon(address=address)
    system.wait_up([BUS_DAEMON, WIRE.name], address=address)
    wait_for(
        lambda: (
            "goal state incarnation_1 processed" in system.log_text()
            and system.owner(WIRE.name, address) is None
        ),
        timeout=60,
        what="wire to process the first goal state and leave the polling to the poller",
    )
    incarnation = system.fabric.bump_incarnation()
    wait_for(
        lambda: f"goal state incarnation_{incarnation} processed" in system.log_text(),
        timeout=60,
        what="the new goal state to be processed",
    )
    assert system.poller() is not None
    wait_for(
        lambda: system.owner(WIRE.name, address) is None,
        timeout=60,
        what="wire to leave again",
    )
