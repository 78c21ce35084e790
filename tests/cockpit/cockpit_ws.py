"""Debian's cockpit-ws with a local session: cockpit-bridge as a given user, on the private bus.

`--local-session=cockpit-bridge` starts the bridge for the first browser that connects, as the
user running cockpit-ws, without Cockpit's login (so Cockpit's own password prompt is not part
of what is tested). One cockpit-ws serves one session: a test starts one per browser session.
The page is found the way Cockpit finds any package, in `<XDG_DATA_DIRS entry>/cockpit/waagent`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.paths import REPO
from tests.harness.procs import Processes
from tests.harness.users import as_user
from tests.harness.wait import wait_for

COCKPIT_WS = Path("/usr/lib/cockpit/cockpit-ws")
PAGE_DIR = REPO / "cockpit" / "waagent"


def missing_for_cockpit() -> str | None:
    if not COCKPIT_WS.exists():
        return f"needs cockpit-ws ({COCKPIT_WS})"
    if not Path("/usr/bin/cockpit-bridge").exists():
        return "needs cockpit-bridge"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class CockpitSession:
    port: int
    user: str
    bin_dir: Path

    def url(self, page: str = "waagent/index.html") -> str:
        return f"http://127.0.0.1:{self.port}/cockpit/@localhost/{page}"


@contextlib.contextmanager
def cockpit_ws(
    bus: PrivateBus, user: str = "root", path_dirs: tuple[Path, ...] = ()
) -> Iterator[CockpitSession]:
    """cockpit-ws on a free loopback port; its bridge runs as `user` with this bus as the system
    bus and `path_dirs` first on PATH (where the page finds the `waagent` command)."""
    # Readable by any user: the data directory (with the page) and the bridge's HOME.
    base = Path(tempfile.mkdtemp(prefix="waagent-cockpit-"))
    os.chmod(base, 0o755)
    share = base / "share" / "cockpit"
    share.mkdir(parents=True)
    (share / "waagent").symlink_to(PAGE_DIR)
    home = base / "home"
    home.mkdir()
    argv = [str(COCKPIT_WS), "--address", "127.0.0.1", "--local-session=cockpit-bridge"]
    if user != "root":
        entry = pwd.getpwnam(user)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        argv = [*as_user(user), *argv]
    port = _free_port()
    env = bus.env()
    env.update(
        XDG_DATA_DIRS=f"{share.parent}:/usr/share",
        HOME=str(home),
        PATH=":".join([*map(str, path_dirs), env.get("PATH", "/usr/bin:/bin")]),
        # Cockpit's own configuration (/etc/cockpit) is not read: this is a test session.
        XDG_CONFIG_DIRS=str(base),
        # No session bus: without an address cockpit-bridge starts a `dbus-daemon --session`
        # of its own, which outlives a bridge that is killed (one was left after a run).
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={base}/no-session-bus",
    )
    procs = Processes()
    log = (base / "cockpit-ws.log").open("wb")
    try:
        procs.start(
            [*argv, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: _listening(port), timeout=30, what="cockpit-ws to listen")
        yield CockpitSession(port, user, base)
    finally:
        # The bridge is cockpit-ws's child in the same session: end both by the group.
        for proc in procs.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        procs.stop_all()
        log.close()
        shutil.rmtree(base, ignore_errors=True)
