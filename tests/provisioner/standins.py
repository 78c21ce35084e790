"""Stand-ins for services waagent does not own (hostnamed, systemd) on a private bus.

Each is a small dbus-fast ServiceInterface in a thread of the test process that records the
calls it receives, so a test can assert what the provisioner asked for without changing the
host's hostname or restarting the host's sshd.
"""

# No `from __future__ import annotations`: dbus-fast reads the signatures at import time.
import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from dbus_fast import DBusError
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusObjectPath, DBusStr
from dbus_fast.service import ServiceInterface, method


class Recorder(ServiceInterface):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls: list[tuple[Any, ...]] = []


class Hostname1(Recorder):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.hostname1")

    @method()
    def SetStaticHostname(self, name: DBusStr, interactive: DBusBool) -> None:
        self.calls.append(("SetStaticHostname", name))

    @method()
    def SetHostname(self, name: DBusStr, interactive: DBusBool) -> None:
        self.calls.append(("SetHostname", name))


class Systemd1(Recorder):
    """The Manager interface: ssh.service exists; every other unit is unknown."""

    UNITS = ("ssh.service",)

    def __init__(self) -> None:
        super().__init__("org.freedesktop.systemd1.Manager")

    def _unit(self, unit: str) -> None:
        if unit not in self.UNITS:
            raise DBusError("org.freedesktop.systemd1.NoSuchUnit", f"Unit {unit} not found.")

    @method()
    def TryReloadOrRestartUnit(self, unit: DBusStr, mode: DBusStr) -> DBusObjectPath:
        self.calls.append(("TryReloadOrRestartUnit", unit, mode))
        self._unit(unit)
        return "/org/freedesktop/systemd1/job/1"

    @method()
    def StopUnit(self, unit: DBusStr, mode: DBusStr) -> DBusObjectPath:
        self.calls.append(("StopUnit", unit, mode))
        return "/org/freedesktop/systemd1/job/2"

    @method()
    def GetUnitFileState(self, unit: DBusStr) -> DBusStr:
        self.calls.append(("GetUnitFileState", unit))
        return "disabled"


@contextlib.contextmanager
def standins(address: str) -> Iterator[tuple[Hostname1, Systemd1]]:
    """hostnamed and systemd on the bus at `address` for the duration of the block."""
    hostname1, systemd1 = Hostname1(), Systemd1()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        bus = await MessageBus(bus_address=address).connect()
        bus.export("/org/freedesktop/hostname1", hostname1)
        bus.export("/org/freedesktop/systemd1", systemd1)
        await bus.request_name("org.freedesktop.hostname1")
        await bus.request_name("org.freedesktop.systemd1")
        ready.set()
        await stop.wait()
        bus.disconnect()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the stand-ins did not get on the bus")
    try:
        yield hostname1, systemd1
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
