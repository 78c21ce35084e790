"""A real polkitd on the private bus, seeing only the repository's actions and the test's rules.

polkitd has no option for other action/rule directories, so it runs in a private mount namespace
where bind mounts put ours over /usr/share/polkit-1/actions and the rules directories; the host's
mount table is untouched. Rules edited during a test are picked up live (inotify).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from .dbus_daemon import PrivateBus
from .paths import POLICY_DIR
from .procs import Processes
from .wait import wait_for

POLKITD = Path("/usr/lib/polkit-1/polkitd")


def name_has_owner(bus: PrivateBus, name: str) -> bool:
    result = subprocess.run(
        [
            "busctl",
            f"--address={bus.address}",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            "s",
            name,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout.strip() == "b true"


class Polkitd:
    def __init__(self, bus: PrivateBus, workdir: Path, extra_actions: list[Path] | None = None):
        self.bus = bus
        self.workdir = workdir
        self.actions = workdir / "actions"
        self.rules = workdir / "rules.d"
        self.empty = workdir / "empty"
        self.log = workdir / "polkitd.log"
        self.extra_actions = list(extra_actions or [])
        self.procs = Processes()
        self.proc: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        for d in (self.actions, self.rules, self.empty):
            d.mkdir(parents=True, exist_ok=True)
        for policy in [*sorted(POLICY_DIR.glob("*.policy")), *self.extra_actions]:
            shutil.copy(policy, self.actions / policy.name)
        polkitd_user = pwd.getpwnam("polkitd")
        os.chown(self.rules, polkitd_user.pw_uid, 0)
        os.chmod(self.rules, 0o700)
        for d in (self.workdir, self.actions, self.empty):
            os.chmod(d, 0o755)

    def start(self) -> None:
        if not self.actions.exists():
            self.prepare()
        script = (
            f"mount --bind {self.actions} /usr/share/polkit-1/actions && "
            f"mount --bind {self.rules} /usr/share/polkit-1/rules.d && "
            f"mount --bind {self.empty} /etc/polkit-1/rules.d && "
            f"exec {POLKITD} --no-debug"
        )
        with open(self.log, "ab") as log:
            self.proc = self.procs.start(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                env=self.bus.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(
            lambda: (
                name_has_owner(self.bus, "org.freedesktop.PolicyKit1")
                or self.proc is None
                or self.proc.poll() is not None
            ),
            timeout=15,
            what="polkitd on the bus",
        )
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"polkitd exited: {self.log.read_text(errors='replace')[-2000:]}")

    def set_rule(self, name: str, javascript: str) -> Path:
        path = self.rules / name
        tmp = self.rules / f".{name}.tmp"
        tmp.write_text(javascript)
        os.chown(tmp, pwd.getpwnam("polkitd").pw_uid, 0)
        tmp.replace(path)
        return path

    def remove_rule(self, name: str) -> None:
        (self.rules / name).unlink(missing_ok=True)

    def stop(self) -> None:
        self.procs.stop_all()
        wait_for(
            lambda: not name_has_owner(self.bus, "org.freedesktop.PolicyKit1"),
            timeout=10,
            what="polkitd to leave the bus",
        )
