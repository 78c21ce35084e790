"""Bus activation and exit-after-idle, with the real services and their real policy files."""

from __future__ import annotations

import asyncio

import pytest
from dbus_fast import DBusError
from dbus_fast.aio import MessageBus

from tests.harness.environment import Environment
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import DISK, WIRE, WIRE_USER

pytestmark = pytest.mark.integration


@pytest.fixture
def env_config() -> dict[str, str]:
    return {"Services.IdleTimeout": "2"}


def uid_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


PROBE = ("org.waagent.Probe1", "/org/waagent/Probe1", "org.waagent.Probe1")


def test_a_call_activates_the_service_and_it_exits_when_idle(env: Environment) -> None:
    assert not name_has_owner(env.bus, PROBE[0])
    reply = env.busctl.call(*PROBE, "Hello", user="nobody")
    assert reply.ok, reply.error
    assert reply.data == ["hello"]
    pid = env.busctl.owner_pid(PROBE[0])
    wait_for(lambda: not name_has_owner(env.bus, PROBE[0]), timeout=15, what="the probe to go idle")
    wait_for(lambda: not _alive(pid), timeout=5, what=f"process {pid} to exit")


def test_wire_runs_as_its_own_unprivileged_user(env: Environment) -> None:
    import pwd

    assert env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping").ok
    assert uid_of(env.busctl.owner_pid(WIRE.name)) == pwd.getpwnam(WIRE_USER).pw_uid


def test_only_the_wire_user_may_own_the_wire_name(env: Environment) -> None:
    async def request_as_root() -> str:
        bus = await MessageBus(bus_address=env.address).connect()
        try:
            await bus.request_name(WIRE.name)
        except DBusError as exc:
            return exc.text
        finally:
            bus.disconnect()
        return "owned"

    assert "is not allowed to own the service" in asyncio.run(request_as_root())


def test_a_call_in_progress_keeps_the_service_alive_past_the_idle_timeout(
    env: Environment,
) -> None:
    reply = env.busctl.call(*PROBE, "Sleep", "u", "4")
    assert reply.ok, reply.error
    assert reply.data == ["slept"]
    wait_for(lambda: not name_has_owner(env.bus, PROBE[0]), timeout=15, what="the probe to go idle")


def test_the_service_comes_back_on_the_next_call(env: Environment) -> None:
    assert env.busctl.call(*PROBE, "Hello").ok
    first = env.busctl.owner_pid(PROBE[0])
    wait_for(lambda: not name_has_owner(env.bus, PROBE[0]), timeout=15, what="the probe to go idle")
    assert env.busctl.call(*PROBE, "Hello").ok
    assert env.busctl.owner_pid(PROBE[0]) != first


def test_diskd_is_activated_by_a_property_read_and_exits_when_idle(env: Environment) -> None:
    state = env.busctl.get_property(DISK.name, DISK.path, DISK.interface, "State", user="nobody")
    assert state == "NoResourceDisk"
    pid = env.busctl.owner_pid(DISK.name)
    wait_for(lambda: not name_has_owner(env.bus, DISK.name), timeout=15, what="diskd to go idle")
    wait_for(lambda: not _alive(pid), timeout=5, what=f"diskd ({pid}) to exit")
    # A normal idle exit leaves nothing at warning level in the bus log: the service's last
    # round trip to the bus daemon is a call the system policy allows (not Peer.Ping).
    assert "Rejected" not in env.bus.log.read_text()


def test_a_resident_service_stays_past_the_idle_timeout(env: Environment) -> None:
    assert env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping").ok
    first = env.busctl.owner_pid(WIRE.name)
    # Wire polls the goal state: it is resident and keeps its name past Services.IdleTimeout.
    with pytest.raises(AssertionError):
        wait_for(lambda: not name_has_owner(env.bus, WIRE.name), timeout=4, what="wire to leave")
    assert env.busctl.owner_pid(WIRE.name) == first


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
