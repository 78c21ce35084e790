"""The real sshd's view of a sandbox's configuration: `sshd -T` in a private mount namespace.

sshd reads `/etc/ssh/sshd_config` and follows its `Include /etc/ssh/sshd_config.d/*.conf` by
absolute path, so the sandbox's /etc/ssh is bind-mounted over /etc/ssh in a namespace of its
own (the host sees no mount), with an empty /run for sshd's privilege separation directory.
sshd only parses and prints: nothing listens.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
# Debian's default sshd_config as the openssh-server package ships it (Include at the top).
DEBIAN_SSHD_CONFIG = Path("/usr/share/openssh/sshd_config")


def require_sshd() -> str:
    """Debian's default sshd_config; skips when openssh-server (a tests-only dep) is missing."""
    if not SSHD.exists() or not DEBIAN_SSHD_CONFIG.exists() or shutil.which("unshare") is None:
        pytest.skip("needs openssh-server (deps/apt/provisioner.txt) and unshare")
    return DEBIAN_SSHD_CONFIG.read_text()


def host_key(directory: Path) -> Path:
    key = directory / "sshd-T-host-key"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            timeout=30,
        )
    return key


def effective(root: Path, key: Path) -> dict[str, str]:
    """`sshd -T` of `<root>/etc/ssh/sshd_config`: keyword (lower case) → value."""
    script = (
        'mount --bind "$1" /etc/ssh && mount -t tmpfs -o mode=755 tmpfs /run '
        '&& mkdir /run/sshd && exec "$2" -T -f /etc/ssh/sshd_config -h "$3"'
    )
    paths = [str(root / "etc/ssh"), str(SSHD), str(key)]
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *paths],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
