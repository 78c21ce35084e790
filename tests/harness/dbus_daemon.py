"""A private system-like dbus-daemon with the repository's own policy files and bus activation."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from waagent.daemon.system_bus import DEFAULT_POLICY

from .paths import POLICY_DIR
from .procs import Processes, pids_with_marker, terminate
from .users import as_user
from .wait import wait_for

# The product's default policy (Debian's system.conf: deny owning names and method calls unless
# a policy file allows them), so the repository's policy files are what decide.
_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
  <servicedir>{servicedir}</servicedir>
{default_policy}  <!-- polkitd's own policy (and the other distribution services) -->
  <includedir>/usr/share/dbus-1/system.d</includedir>
{includes}
</busconfig>
"""


class PrivateBus:
    """dbus-daemon on a path socket in `workdir`; `address` is what clients and services use."""

    def __init__(self, workdir: Path, extra_policies: list[Path] | None = None) -> None:
        self.workdir = workdir
        self.socket = workdir / "system_bus_socket"
        self.servicedir = workdir / "services"
        self.config = workdir / "system.conf"
        self.log = workdir / "dbus-daemon.log"
        self.policies = sorted(POLICY_DIR.glob("*.conf")) + list(extra_policies or [])
        self.procs = Processes()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def env(self) -> dict[str, str]:
        """Environment for processes that should use this bus as their system bus."""
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def start(self) -> None:
        self.servicedir.mkdir(parents=True, exist_ok=True)
        includes = "\n".join(f"  <include>{escape(str(p))}</include>" for p in self.policies)
        self.config.write_text(
            _CONFIG.format(
                default_policy=DEFAULT_POLICY,
                socket=escape(str(self.socket)),
                servicedir=escape(str(self.servicedir)),
                includes=includes,
            )
        )
        with open(self.log, "wb") as log:
            # Activated services inherit this environment, so they find this bus as "system".
            self.proc = self.procs.start(
                ["dbus-daemon", f"--config-file={self.config}", "--nofork", "--nopidfile"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(self.socket.exists, timeout=10, what="the dbus-daemon socket")
        os.chmod(self.workdir, 0o755)

    def add_service(self, name: str, argv: list[str], *, user: str | None = None) -> Path:
        """An activation file; `user` is applied with setpriv, as the launch helper would."""
        if user is not None and user != "root":
            argv = [*as_user(user), *argv]
        path = self.servicedir / f"{name}.service"
        exec_line = " ".join(shlex.quote(a) for a in argv)
        # Whole or not at all (the daemon watches this directory), then a reload, which the
        # daemon finishes before it replies: the next activation uses this entry, never the old.
        partial = path.with_suffix(".tmp")
        partial.write_text(f"[D-BUS Service]\nName={name}\nExec={exec_line}\nUser=root\n")
        partial.rename(path)
        if self.proc is not None and self.proc.poll() is None:
            self.reload()
        return path

    def reload(self) -> None:
        subprocess.run(
            ["busctl", f"--address={self.address}", "call", "org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the daemon and everything it activated (found by this bus's unique directory)."""
        self.procs.stop_all()
        terminate(pids_with_marker(str(self.workdir)))
