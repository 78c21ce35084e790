"""A resident child forked from the resident supervisor instead of exec'd: the poller.

Under `waagent -daemon` two Python processes stay resident, the supervisor and the poller, and
each would load its own copy of the standard library (~12 MiB PSS each). Forked after the
supervisor imported the poller's modules, the child shares those pages with it copy-on-write, so
the two together cost little more than one (bench/cli_daemon.py). `gc.freeze()` in the child keeps
the collector from writing to the inherited objects, which would copy their pages.

The child becomes what `setpriv` makes of an exec'd one (launch.privileges): its own session,
the parent-death signal, and for a user that user's identity and groups with no capabilities
at all (none permitted, effective, inheritable, ambient, nor in the bounding set). It fails
closed: a step that cannot be taken ends the child with status 1, and the supervisor restarts
it after its backoff. Nothing of the parent's survives but memory: every inherited descriptor
above stderr is closed, the signal handlers are the defaults, and the parent's objects are never
used again (the child leaves with `os._exit`).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from ..common.libc import check, libc
from .resident_plan import Identity

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
CAPABILITY_VERSION_3 = 0x20080522
CAP_LAST_CAP = "/proc/sys/kernel/cap_last_cap"
CHILD_FAILED = 1


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _prctl(option: int, arg: int | bytes) -> None:
    check(libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def drop_privileges(identity: Identity) -> None:
    """Become `identity` with no capabilities, as `setpriv --reuid --regid --init-groups
    --inh-caps=-all --bounding-set=-all` does. Root's steps first (the bounding set needs
    CAP_SETPCAP), then the identity, which empties the permitted, effective and ambient sets."""
    last = int(Path(CAP_LAST_CAP).read_text())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    os.setgroups(identity.groups)
    os.setresgid(identity.gid, identity.gid, identity.gid)
    os.setresuid(identity.uid, identity.uid, identity.uid)
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    none = (_CapData * 2)()  # all zero: inheritable too
    check(libc.capset(ctypes.byref(header), none), "capset")


def _become_child(
    name: str, env: Mapping[str, str], identity: Identity | None, parent: int
) -> None:
    # Before anything allocates: the parent's objects are never collected here (their
    # descriptors are closed below, so a finalizer could close one of ours) nor touched.
    gc.freeze()
    os.setsid()  # as start_new_session: a Ctrl-C on the terminal reaches the supervisor only
    signal.set_wakeup_fd(-1)  # the parent's event loop's
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    root = logging.getLogger()
    for handler in list(root.handlers):  # the target sets up its own
        handler.close()
        root.removeHandler(handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.environ.clear()
    os.environ.update(env)
    _prctl(PR_SET_NAME, name.encode()[:15])
    if identity is not None:
        drop_privileges(identity)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # after the identity: changing it clears this
    if os.getppid() != parent:  # the supervisor died before the signal was armed
        os._exit(0)


def _child(
    target: Callable[[], int],
    name: str,
    env: Mapping[str, str],
    identity: Identity | None,
    parent: int,
) -> None:
    code = CHILD_FAILED
    try:
        _become_child(name, env, identity, parent)
        code = target()
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else CHILD_FAILED
    except BaseException:
        # To the descriptor: sys.stderr is the parent's object, perhaps with its buffer.
        os.write(2, traceback.format_exc().encode(errors="replace"))
    finally:
        os._exit(code)


class ForkedProcess:
    """The parent's handle on a forked child, shaped as asyncio's Process where the supervisor
    uses it: `pid`, `returncode` (negative: the signal), `wait()`, `send_signal()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        # Opened before anyone could reap the child: it names this child, never a reused pid.
        self._pidfd = os.pidfd_open(pid)
        loop = asyncio.get_running_loop()
        self._exited = loop.create_future()
        loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        _, status = os.waitpid(self.pid, 0)
        os.close(self._pidfd)
        self.returncode = os.waitstatus_to_exitcode(status)
        if not self._exited.done():
            self._exited.set_result(self.returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)


def spawn(
    target: Callable[[], int],
    *,
    name: str,
    env: Mapping[str, str],
    identity: Identity | None = None,
) -> ForkedProcess:
    """Fork; the child runs `target()` as `identity` with `env` and leaves with its status."""
    parent = os.getpid()
    # Here too: the parent's collector no longer walks (writes to) what the child shares.
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(target, name, env, identity, parent)
    try:
        return ForkedProcess(pid)
    except OSError:  # no pidfd (Linux < 5.3): no child left behind that nobody watches
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
