"""Calling services the way admins do: busctl, as root or as an unprivileged user (no Python)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

from .dbus_daemon import PrivateBus
from .users import as_user

UNPRIVILEGED = "nobody"


@dataclass(frozen=True)
class Reply:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def data(self) -> list[Any]:
        """The reply body (busctl --json=short gives {"type": sig, "data": [...]}; nothing for
        a method without a value)."""
        if not self.stdout.strip():
            return []
        parsed = json.loads(self.stdout)
        return list(parsed["data"])

    @property
    def error(self) -> str:
        return self.stderr.strip()


class Busctl:
    def __init__(self, bus: PrivateBus) -> None:
        self.bus = bus

    def run(self, *args: str, user: str | None = None, timeout: float = 30) -> Reply:
        argv = ["busctl", f"--address={self.bus.address}", *args]
        if user is not None and user != "root":
            argv = [*as_user(user), *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return Reply(result.returncode, result.stdout, result.stderr)

    def call(
        self,
        service: str,
        path: str,
        interface: str,
        method: str,
        signature: str = "",
        *args: str,
        user: str | None = None,
        interactive: bool = False,
        timeout: float = 30,
    ) -> Reply:
        flags = [
            "--json=short",
            f"--allow-interactive-authorization={'yes' if interactive else 'no'}",
            f"--timeout={timeout:g}",
        ]
        call = ["call", service, path, interface, method]
        if signature:
            call += [signature, *args]
        return self.run(*flags, *call, user=user, timeout=timeout + 5)

    def owner_pid(self, name: str) -> int:
        """The PID of the process that owns a bus name."""
        reply = self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "GetConnectionUnixProcessID",
            "s",
            name,
        )
        if not reply.ok:
            raise AssertionError(f"no owner of {name}: {reply.error}")
        return int(reply.data[0])

    def get_property(
        self, service: str, path: str, interface: str, prop: str, *, user: str | None = None
    ) -> Any:
        reply = self.run("--json=short", "get-property", service, path, interface, prop, user=user)
        if not reply.ok:
            raise AssertionError(f"get-property {prop} failed: {reply.error}")
        return json.loads(reply.stdout)["data"]


def gdbus(address: str, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """GLib's `gdbus <args>` (what GNOME tools use) on the bus at `address`, as `user`."""
    argv = ["gdbus", *args]
    if user is not None:
        argv = [*as_user(user), *argv]
    environ = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=environ, check=False
    )
