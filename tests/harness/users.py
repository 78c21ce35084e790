"""System users the services run as (waagent-wire), created for the tests and removed after.

Several test runs may share the machine, so a user is removed only when no live process still
holds it: each holder leaves a `<name>.<pid>` file, and holders that died are pruned.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .procs import alive

STATE = Path("/run/lock/waagent-test-users")


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _processes_of(uid: int) -> list[int]:
    """The live processes of `uid`. Not zombies: userdel does not count them either, and an
    activated service is an orphan from its start (dbus-daemon's babysitter leaves), so its
    zombie waits for PID 1, which on some machines reaps only every second or two."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def acquire(name: str) -> None:
    with _locked():
        if not _exists(name):
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--comment",
                    "waagent test service user",
                    name,
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            (STATE / f"{name}.created").touch()
        (STATE / f"{name}.{os.getpid()}").touch()


def release(name: str) -> None:
    with _locked():
        (STATE / f"{name}.{os.getpid()}").unlink(missing_ok=True)
        holders = []
        for holder in STATE.glob(f"{name}.*"):
            suffix = holder.name.rsplit(".", 1)[1]
            if not suffix.isdigit():
                continue
            if _alive(int(suffix)):
                holders.append(holder)
            else:
                holder.unlink(missing_ok=True)
        created = STATE / f"{name}.created"
        if not holders and created.exists() and _exists(name):
            # userdel refuses while a process of the user is alive (a service being stopped).
            uid = pwd.getpwnam(name).pw_uid
            deadline = time.monotonic() + 10
            while _processes_of(uid) and time.monotonic() < deadline:
                time.sleep(0.05)
            subprocess.run(["userdel", name], check=False, capture_output=True, timeout=30)
        if not _exists(name):
            created.unlink(missing_ok=True)  # kept while the user exists: the next release retries


@contextlib.contextmanager
def system_user(name: str) -> Iterator[pwd.struct_passwd]:
    acquire(name)
    try:
        yield pwd.getpwnam(name)
    finally:
        release(name)


def as_user(user: str) -> list[str]:
    """The setpriv prefix that runs a command as `user` (its own groups, no capabilities)."""
    entry = pwd.getpwnam(user)
    return [
        "/usr/bin/setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--init-groups",
        "--inh-caps=-all",
    ]
