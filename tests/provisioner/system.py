"""A minimal Debian-like system tree for the provisioner to work on, built from text here.

Nothing is copied from the host's /etc: the accounts, login.defs, skel, sshd and sudoers files
below are all a sandbox root holds, and all useradd/chpasswd/userdel --root need.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
shadow:x:42:
sudo:x:27:
users:x:100:
nogroup:x:65534:
"""
SHADOW = """\
root:$6$oldroot$abcdefghijklmnopqrstuv:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
bin:*:19000:0:99999:7:::
sys:*:19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
"""
GSHADOW = "".join(f"{line.split(':')[0]}:*::\n" for line in GROUP.splitlines())
LOGIN_DEFS = """\
MAIL_DIR        /var/mail
UID_MIN                  1000
UID_MAX                 60000
SYS_UID_MIN               100
SYS_UID_MAX               999
GID_MIN                  1000
GID_MAX                 60000
USERGROUPS_ENAB yes
ENCRYPT_METHOD SHA512
"""
USERADD_DEFAULTS = "SHELL=/bin/sh\n"
SUDOERS = "root\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n"

# Debian 12's sshd_config: the drop-in directory is included first.
SSHD_CONFIG_WITH_INCLUDE = """\
Include /etc/ssh/sshd_config.d/*.conf

KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
"""
# An older layout: no include, settings in place, and a Match block at the end.
SSHD_CONFIG_CLASSIC = """\
#PasswordAuthentication yes
PasswordAuthentication yes
ChallengeResponseAuthentication no
UsePAM yes
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
Match User backup
    PasswordAuthentication no
"""
DHCLIENT_CONF = "option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\nsend host-name = gethostname();\nrequest subnet-mask, routers;\n"
OLD_HOST_KEY = "old host key material\n"


def _write(root: Path, inner: str, text: str, mode: int = 0o644) -> Path:
    path = root / inner.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def build_system(root: Path, *, sshd_config: str = SSHD_CONFIG_WITH_INCLUDE) -> Path:
    """The tree under `root` (which may already hold the harness's sandbox files)."""
    root.mkdir(parents=True, exist_ok=True)
    _write(root, "/etc/passwd", PASSWD)
    _write(root, "/etc/group", GROUP)
    _write(root, "/etc/shadow", SHADOW, 0o640)
    _write(root, "/etc/gshadow", GSHADOW, 0o640)
    _write(root, "/etc/login.defs", LOGIN_DEFS)
    _write(root, "/etc/default/useradd", USERADD_DEFAULTS)
    _write(root, "/etc/skel/.profile", "# ~/.profile\n")
    _write(root, "/etc/sudoers", SUDOERS, 0o440)
    (root / "etc/sudoers.d").mkdir(mode=0o750, exist_ok=True)
    _write(root, "/etc/ssh/sshd_config", sshd_config)
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    for kind in ("rsa", "ecdsa", "ed25519"):
        _write(root, f"/etc/ssh/ssh_host_{kind}_key", OLD_HOST_KEY, 0o600)
        _write(root, f"/etc/ssh/ssh_host_{kind}_key.pub", OLD_HOST_KEY)
    _write(root, "/etc/dhcp/dhclient.conf", DHCLIENT_CONF)
    _write(root, "/etc/hostname", "debian\n")
    _write(root, "/etc/resolv.conf", "nameserver 168.63.129.16\n")
    for inner, mode in (
        ("/home", 0o755),
        ("/root", 0o700),
        ("/run", 0o755),
        ("/var/lib/waagent", 0o700),
    ):
        (root / inner.lstrip("/")).mkdir(parents=True, exist_ok=True)
        os.chmod(root / inner.lstrip("/"), mode)
    return root


def passwd_entry(root: Path, name: str) -> list[str] | None:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    return None


def shadow_hash(root: Path, name: str) -> str | None:
    for line in (root / "etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields[1]
    return None


def shadow_fields(root: Path, name: str) -> list[str] | None:
    for line in (root / "etc/shadow").read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


def openssl_sha512(password: str, hashed: str) -> str:
    """`openssl passwd -6` of `password` with the salt of `hashed`: an independent crypt(3)."""
    done = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", hashed.split("$")[2], password],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def product_uuid_tree(sysfs: Path, vm_id: str) -> Path:
    """A sysfs root whose product_uuid is `vm_id` in Hyper-V's byte order."""
    from waagent.provisioner.instance_id import swap

    path = sysfs / "class/dmi/id/product_uuid"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(swap(vm_id).upper() + "\n")
    return sysfs
