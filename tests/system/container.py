"""A Debian bookworm VM image booted with systemd as PID 1 in systemd-nspawn.

The base tree is made once with debootstrap and cached (`/var/cache/waagent-system-test`); each
test copies it, and the project as `make install DESTDIR=...` laid it out (once per run), into a
new tree, and boots it with `--register=no --keep-unit` (no machined here), optionally inside a
network namespace where the fabric simulator answers at 168.63.129.16. Commands run inside with
`nsenter`. Everything is stopped by PID, the copy removed, also when a test fails.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.harness.paths import REPO
from tests.harness.procs import terminate
from tests.harness.sandbox import with_overrides
from tests.harness.wait import wait_for

CACHE = Path(os.environ.get("WAAGENT_SYSTEM_TEST_CACHE", "/var/cache/waagent-system-test"))
MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "polkitd",
    "libpam-systemd",
    "openssh-server",
    "openssh-client",
    "python3",
    "iproute2",
    "passwd",
    "util-linux",
    "e2fsprogs",
    "fdisk",
    "sudo",
    "openssl",  # a runtime dependency of the agent: extensions decrypt settings with it
)
STAMP = "waagent-packages"
CGROUP_FS = Path("/sys/fs/cgroup")
INSTALL_LOCK = Path("/run/lock/waagent-system-test-install.lock")


def missing_tools() -> str | None:
    if os.geteuid() != 0:
        return "needs root (debootstrap, systemd-nspawn, nsenter)"
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (deps/apt/system.txt)"
    return None


def base_rootfs() -> Path:
    """The cached debootstrap tree (built the first time: about 45 s, 320 MB)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = CACHE / "bookworm"
    wanted = " ".join(PACKAGES)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = rootfs / STAMP
        if stamp.exists() and stamp.read_text() == wanted:
            return rootfs
        shutil.rmtree(rootfs, ignore_errors=True)
        staging = CACHE / "bookworm.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        (CACHE / "debs").mkdir(exist_ok=True)
        result = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={CACHE / 'debs'}",
                f"--include={','.join(PACKAGES)}",
                "bookworm",
                str(staging),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"debootstrap failed: {result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        (staging / STAMP).write_text(wanted)
        staging.rename(rootfs)
    return rootfs


@functools.cache
def installed_tree() -> Path:
    """`make install DESTDIR=...` of the checkout, once per process (about 6 s each; a test run
    boots some fifteen images), copied into each image; removed when the process exits."""
    where = Path(tempfile.mkdtemp(prefix="waagent-install-", dir="/var/tmp"))
    where.chmod(0o755)  # `cp -a where/.` gives the image's / this directory's mode (mkdtemp: 0700)
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    # One install at a time: it builds in the checkout, which two at once would share.
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(
            ["make", "-s", "install", f"DESTDIR={where}", "PREFIX=/usr"],
            cwd=REPO,
            check=True,
            timeout=900,
            capture_output=True,
        )
    return where


class Container:
    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.name = name
        self.rootfs = workdir / "rootfs"
        self.log = workdir / "nspawn.log"
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.cgroups: list[Path] = []
        self.leader = 0

    def path(self, inner: str) -> Path:
        return self.rootfs / inner.lstrip("/")

    def prepare(self, config: dict[str, str] | None = None, deb: Path | None = None) -> None:
        """Copy the base tree, install the project into it (`make install`, or the package
        `deb` with apt), enable the agent."""
        subprocess.run(
            ["cp", "-a", f"{base_rootfs()}/.", str(self.rootfs)],
            check=True,
            timeout=600,
        )
        if deb is not None:
            self.apt_install(deb)  # its postinst enables the units
        else:
            subprocess.run(
                ["cp", "-a", f"{installed_tree()}/.", str(self.rootfs)], check=True, timeout=600
            )
            subprocess.run(
                ["systemctl", f"--root={self.rootfs}", "enable", "waagent.target"],
                check=True,
                timeout=60,
                capture_output=True,
            )
        conf = self.path("/etc/waagent.conf")
        conf.write_text(with_overrides(conf.read_text(), config or {}))
        self.path("/etc/hostname").write_text("localhost\n")

    def apt_install(self, deb: Path) -> None:
        """`apt install ./waagent_*.deb` in the image before its first boot, as an image builder
        does: systemd is not running, so the units are enabled, not started. apt fetches the
        dependencies the image lacks from the mirror (nspawn without boot shares the host's
        network); the downloaded .debs are kept next to the base image for the next test."""
        inner = f"/root/{deb.name}"
        shutil.copy2(deb, self.path(inner))
        archives = CACHE / "apt-archives"
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        script = (
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            f"--no-install-recommends {inner}"
        )
        argv = [
            "systemd-nspawn", "-q", "-D", str(self.rootfs), "--register=no", "--keep-unit",
            f"--bind={archives}:/var/cache/apt/archives", "/bin/sh", "-c", script,
        ]  # fmt: skip
        cgroups = own_cgroups(f"{self.name}-apt")
        try:
            with open(CACHE / ".apt.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one apt at a time on the shared archives
                result = subprocess.run(
                    in_cgroups(cgroups, argv),
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
        finally:
            remove_cgroups(cgroups)
        self.path(inner).unlink()
        if result.returncode != 0:
            raise RuntimeError(
                f"apt install failed: {result.stdout[-3000:]}{result.stderr[-3000:]}"
            )

    def boot(
        self,
        *,
        netns: str | None = None,
        binds_ro: Sequence[tuple[Path, str]] = (),
        timeout: float = 120,
    ) -> None:
        argv = [
            "systemd-nspawn",
            "-D",
            str(self.rootfs),
            "-M",
            self.name,
            "-b",
            "--register=no",
            "--keep-unit",
            "--console=passive",
        ]
        if netns:
            # Its own network, administered by its root as on a real VM (nspawn keeps
            # CAP_NET_ADMIN only for --private-network; netd's firewall needs it).
            argv += [f"--network-namespace-path=/run/netns/{netns}", "--capability=CAP_NET_ADMIN"]
        argv += [f"--bind-ro={source}:{target}" for source, target in binds_ro]
        self.cgroups = own_cgroups(self.name)
        with open(self.log, "wb") as log:
            self.nspawn = subprocess.Popen(
                in_cgroups(self.cgroups, argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.leader = wait_for(self._leader, timeout=30, what="the container's PID 1")
        state = wait_for(self._settled, timeout=timeout, what="the container to finish booting")
        if state not in ("running", "degraded"):
            raise RuntimeError(f"the container did not boot: {state}")

    def _leader(self) -> int | None:
        assert self.nspawn is not None
        if self.nspawn.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited: {self.log.read_text()[-2000:]}")
        # The container's systemd, once it runs: nspawn may first fork a short-lived helper (it
        # does when it starts in a control group of its own), which must not be taken for it.
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        with contextlib.suppress(OSError):
            for pid in children.read_text().split():
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
        return None

    def _settled(self) -> str | None:
        result = self.run(["systemctl", "is-system-running"], timeout=30)
        state = result.stdout.strip()
        return state if state in ("running", "degraded", "maintenance") else None

    def run(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        inner = list(argv)
        if user is not None:
            # A real login session through PAM (pam_systemd registers it with logind).
            inner = ["su", "-l", user, "-s", "/bin/sh", "-c", shlex.join(argv)]
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *inner],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input,
        )

    def stop(self) -> None:
        if self.nspawn is not None and self.nspawn.poll() is None:
            # SIGTERM to nspawn is a clean poweroff of the container.
            self.nspawn.terminate()
            try:
                self.nspawn.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.nspawn.pid, 9)
                self.nspawn.wait()
        if self.leader:
            terminate([self.leader])
        remove_cgroups(self.cgroups)

    def wait_unit(self, unit: str, state: str, timeout: float = 60) -> None:
        wait_for(
            lambda: (
                self.run(["systemctl", "show", "-P", "ActiveState", unit]).stdout.strip() == state
            ),
            timeout=timeout,
            what=f"{unit} {state}",
        )


def own_cgroups(name: str) -> list[Path]:
    """A control group of the container's own in the hierarchies its systemd manages.

    With `--keep-unit` nspawn hands the container the cgroup it was started in. Without one of
    its own, every container on the host would get the same (the root here, where no systemd
    runs): two booted at once then manage one tree, and neither finishes booting."""
    made = []
    for hierarchy in (CGROUP_FS / "systemd", CGROUP_FS / "unified"):
        if (hierarchy / "cgroup.procs").exists():
            path = hierarchy / f"{name}.waagent-test"
            path.mkdir(exist_ok=True)
            made.append(path)
    return made


def in_cgroups(paths: Sequence[Path], argv: Sequence[str]) -> list[str]:
    """`argv`, started inside the container's control groups (a shell that moves itself in,
    then execs it: the PID is the command's)."""
    moves = "".join(f'echo $$ > "{path}/cgroup.procs" && ' for path in paths)
    return ["sh", "-c", f'{moves}exec "$@"', "sh", *argv]


def remove_cgroups(paths: Sequence[Path]) -> None:
    """Once the container is gone: its groups, deepest first (the container's systemd may
    leave empty ones behind)."""
    for top in paths:
        if not top.exists():
            continue
        for directory in sorted((d for d in top.rglob("*") if d.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


@contextlib.contextmanager
def container(workdir: Path, name: str | None = None) -> Iterator[Container]:
    box = Container(workdir, name or f"waagent-{os.getpid()}")
    try:
        yield box
    finally:
        box.stop()
        shutil.rmtree(box.rootfs, ignore_errors=True)
