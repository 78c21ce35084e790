"""Stand-ins for systemd-networkd and NetworkManager on a private bus, for netd's PublishHostname:
the members netd calls, each call recorded as a JSON line. (The real networkd is exercised in the
booted VM, tests/system/test_hostname.py; NetworkManager cannot run there.)

Run: python -m tests.netd.fake_network_stacks {networkd|nm} IFINDEX IFNAME RECORD_FILE
It prints "ready" once it owns its name.
"""

# No `from __future__ import annotations`: dbus-fast reads the signatures at import time.
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import BusType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON, REPO
from tests.harness.procs import terminate

Int = Annotated[int, DBusSignature("i")]
U = Annotated[int, DBusSignature("u")]
T = Annotated[int, DBusSignature("t")]
S = Annotated[str, DBusSignature("s")]
ObjPath = Annotated[str, DBusSignature("o")]
SO = Annotated[list[str], DBusSignature("so")]
Settings = Annotated[dict[str, dict[str, Variant]], DBusSignature("a{sa{sv}}")]
Applied = Annotated[list[Any], DBusSignature("a{sa{sv}}t")]

POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.network1"/>
    <allow own="org.freedesktop.NetworkManager"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.network1"/>
    <allow send_destination="org.freedesktop.NetworkManager"/>
  </policy>
</busconfig>
"""

LINK_PATH = "/org/freedesktop/network1/link/_31"
DEVICE_PATH = "/org/freedesktop/NetworkManager/Devices/1"


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, member: str, *args: Any) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps([member, *args]) + "\n")


class NetworkdManager(ServiceInterface):
    def __init__(self, record: Recorder, ifindex: int) -> None:
        super().__init__("org.freedesktop.network1.Manager")
        self.record = record
        self.ifindex = ifindex

    @method()
    def GetLinkByIndex(self, ifindex: Int) -> SO:
        self.record("GetLinkByIndex", ifindex)
        return ["eth0", LINK_PATH]

    @method()
    def ReconfigureLink(self, ifindex: Int) -> None:
        self.record("ReconfigureLink", ifindex)


class NetworkdLink(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.network1.Link")

    @dbus_property(access=PropertyAccess.READ)
    def AdministrativeState(self) -> S:
        return "configured"


class NmManager(ServiceInterface):
    def __init__(self, record: Recorder) -> None:
        super().__init__("org.freedesktop.NetworkManager")
        self.record = record

    @method()
    def GetDeviceByIpIface(self, iface: S) -> ObjPath:
        self.record("GetDeviceByIpIface", iface)
        return DEVICE_PATH


class NmDevice(ServiceInterface):
    def __init__(self, record: Recorder) -> None:
        super().__init__("org.freedesktop.NetworkManager.Device")
        self.record = record

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> U:
        return 100

    @method()
    def GetAppliedConnection(self, flags: U) -> Applied:
        return [
            {
                "connection": {"id": Variant("s", "Wired connection 1")},
                "ipv4": {"method": Variant("s", "auto")},
            },
            7,
        ]

    @method()
    def Reapply(self, connection: Settings, version_id: T, flags: U) -> None:
        ipv4 = {k: v.value for k, v in connection.get("ipv4", {}).items()}
        self.record("Reapply", ipv4, version_id, flags)


@contextlib.contextmanager
def stand_in(env: Environment, stack: str, record: Path) -> Iterator[Path]:
    """The stand-in of `stack` (networkd or nm) on the bus; yields the file of its calls."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "tests.netd.fake_network_stacks", stack, "0", "-", str(record)],
        cwd=REPO,
        env=env.bus.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield record
    finally:
        terminate([proc.pid])
        proc.wait(10)


def calls(record: Path) -> list[list[object]]:
    text = record.read_text() if record.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


async def main(stack: str, ifindex: int, record: Recorder) -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    if stack == "networkd":
        bus.export("/org/freedesktop/network1", NetworkdManager(record, ifindex))
        bus.export(LINK_PATH, NetworkdLink())
        await bus.request_name("org.freedesktop.network1")
    else:
        bus.export("/org/freedesktop/NetworkManager", NmManager(record))
        bus.export(DEVICE_PATH, NmDevice(record))
        await bus.request_name("org.freedesktop.NetworkManager")
    print("ready", flush=True)
    await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Recorder(Path(sys.argv[4]))))
