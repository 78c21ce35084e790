"""org.waagent.Probe1: a minimal service built on the real waagent bus core, for tests only.

It exercises what every service shares (activation, dispatcher, polkit authorization, idle exit)
with one method per kind of authorization, independent of any service's own logic.
Its bus policy and polkit action live in tests/data and are added only by the test harness.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from dbus_fast.annotations import DBusStr, DBusUInt32, DBusUnixFd

from waagent.common.bus import (
    PUBLIC,
    ROOT_ONLY,
    Interface,
    ServiceContext,
    bus_method,
    polkit_action,
)
from waagent.common.errors import InvalidArgs
from waagent.common.names import BusName

PROBE = BusName("org.waagent.Probe1", "probe")
PROBE_ACTION = "org.waagent.probe.privileged"


def _check_word(self: ProbeInterface, word: str) -> None:
    if not word.isalpha():
        raise InvalidArgs(f"invalid word {word!r}: letters only")


class ProbeInterface(Interface):
    NAME = PROBE.interface

    @bus_method(auth=PUBLIC)
    def Hello(self) -> DBusStr:
        return "hello"

    @bus_method(auth=polkit_action(PROBE_ACTION), validate=_check_word)
    def Privileged(self, word: DBusStr) -> DBusStr:
        return f"allowed: {word}"

    @bus_method(auth=ROOT_ONLY)
    def RootOnly(self) -> DBusUInt32:
        return os.getpid()

    @bus_method(auth=PUBLIC)
    async def Sleep(self, seconds: DBusUInt32) -> DBusStr:
        import asyncio

        await asyncio.sleep(seconds)
        return "slept"

    @bus_method(auth=PUBLIC)
    def ReadFd(self, fd: DBusUnixFd) -> DBusStr:
        return os.read(fd, 100).decode()

    @bus_method(auth=PUBLIC)
    def Crash(self) -> DBusStr:
        raise RuntimeError("secret internal detail /etc/shadow")


async def setup(ctx: ServiceContext) -> None:
    ctx.export(PROBE.path, ProbeInterface())


def main(argv: Sequence[str] | None = None) -> int:
    from waagent.common.bus.service import service_main

    return service_main(PROBE, [ProbeInterface], setup, argv)


if __name__ == "__main__":
    sys.exit(main())
