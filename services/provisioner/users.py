"""The provisioned user (reference §6.3 b, c, h; §7.2 step 9), always against the root.

Accounts are read from `<root>/etc/passwd` and changed with the shadow tools' `--root`, so the
host's users are never touched. The password is applied pre-hashed through `chpasswd -e` on
stdin: PAM is not needed, and the hash never appears in a process's argv.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import PurePosixPath

from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.errors import InvalidArgs
from ..common.root import Root

log = logging.getLogger(__name__)

# What useradd accepts, minus what invites trouble: a leading dash (an option), shell
# metacharacters, spaces, and names of digits only (taken for uids by many tools).
USERNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
MAX_USERNAME = 32
DEFAULT_UID_MIN = 1000
ROOT_LOCKED = "root:*LOCK*:14600::::::"
EPOCH = date(1970, 1, 1)
COMMAND_TIMEOUT = 60.0


class UserError(InvalidArgs):
    """A user the provisioner refuses; the message is the ProvisioningFailed reason."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: PurePosixPath
    comment: str = ""  # the GECOS field (JIT users are marked by it)


def validate_name(name: str) -> None:
    if len(name) > MAX_USERNAME:
        raise UserError(f"invalid user name {name[:40]!r}: longer than {MAX_USERNAME} characters")
    if not USERNAME.fullmatch(name):
        raise UserError(
            f"invalid user name {name[:40]!r}: use letters, digits, '_', '.' and '-', "
            "not starting with '-', '.' or a digit"
        )


class Users:
    def __init__(self, root: Root, runner: CommandRunner, config: AgentConfig) -> None:
        self.root = root
        self.runner = runner
        self.config = config

    def _root_option(self) -> list[str]:
        return [] if self.root.is_host else ["--root", str(self.root.path)]

    def _entries(self) -> Iterator[list[str]]:
        for line in (self.root.read_text("/etc/passwd") or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 7:
                yield fields

    def named_by_comment(self, comment: str) -> list[str]:
        """The names of the accounts whose GECOS field is exactly `comment`."""
        return [fields[0] for fields in self._entries() if fields[4] == comment]

    def lookup(self, name: str) -> Account | None:
        fields = next((f for f in self._entries() if f[0] == name), None)
        if fields is None:
            return None
        try:
            return Account(
                name, int(fields[2]), int(fields[3]), PurePosixPath(fields[5]), fields[4]
            )
        except ValueError:
            raise UserError(f"/etc/passwd has a malformed entry for {name!r}") from None

    def expiry(self, name: str) -> date | None:
        """The day the account expires (the shadow file's field 8), None when it does not."""
        for line in (self.root.read_text(self.config.os_password_path) or "").splitlines():
            fields = line.split(":")
            if len(fields) >= 8 and fields[0] == name and fields[7].isdigit():
                return EPOCH + timedelta(days=int(fields[7]))
        return None

    def uid_min(self) -> int:
        for line in (self.root.read_text("/etc/login.defs") or "").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
                return int(fields[1])
        return DEFAULT_UID_MIN

    def check(self, name: str) -> None:
        """Refuse a bad name, or a system account unless Provisioning.AllowResetSysUser=y."""
        validate_name(name)
        account = self.lookup(name)
        if account is None or account.uid >= self.uid_min():
            return
        if self.config.provisioning_allow_reset_sys_user:
            log.warning("provisioning the system account %s (AllowResetSysUser=y)", name)
            return
        raise UserError(
            f"{name!r} is a system account (uid {account.uid} < UID_MIN {self.uid_min()}); "
            "set Provisioning.AllowResetSysUser=y to provision it"
        )

    def home_for(self, name: str) -> PurePosixPath:
        """The user's home: the existing one, or where `ensure` will create it."""
        account = self.lookup(name)
        if account is not None:
            return account.home
        return PurePosixPath(self.config.os_home_dir) / name

    async def add(self, name: str, *, expires: date | None = None, comment: str = "") -> Account:
        """`useradd -m`: the account and its home; `expires`: the day it is disabled (-e)."""
        options = ["-m", "-d", str(self.home_for(name))]
        if expires is not None:
            options += ["-e", expires.isoformat()]
        if comment:
            options += ["-c", comment]
        await self.runner.run(
            ["useradd", *self._root_option(), *options, name], timeout=COMMAND_TIMEOUT
        )
        log.info("created user %s", name)
        account = self.lookup(name)
        if account is None:
            raise UserError(f"useradd did not create {name!r}")
        return account

    async def ensure(self, name: str) -> Account:
        """The account, created (with its home) only when it does not exist yet."""
        account = self.lookup(name)
        if account is None:
            account = await self.add(name)
        else:
            log.info("user %s already exists", name)
        self._ensure_home(account)
        return account

    def _ensure_home(self, account: Account) -> None:
        """A home lost to a crash between useradd's passwd entry and its mkdir is made now."""
        path = self.root.resolve(account.home)
        if not path.exists():
            self.root.makedirs(account.home, 0o750)
            os.chown(path, account.uid, account.gid)
            log.warning("made the missing home %s of %s", account.home, account.name)

    async def set_password_hash(self, name: str, hashed: str) -> None:
        await self.runner.run(
            ["chpasswd", *self._root_option(), "-e"],
            input=f"{name}:{hashed}\n".encode(),
            timeout=COMMAND_TIMEOUT,
        )

    async def delete(self, name: str) -> None:
        """`userdel -f -r`: the account and its entire home (utmp must exist for userdel)."""
        utmp = self.root.resolve_parent("/var/run/utmp")
        if not utmp.exists():
            utmp.parent.mkdir(parents=True, exist_ok=True)
            utmp.touch(0o664)
        await self.runner.run(
            ["userdel", *self._root_option(), "-f", "-r", name], timeout=COMMAND_TIMEOUT
        )
        log.info("deleted user %s and its home", name)

    def lock_root_password(self) -> bool:
        """Classic: no `root:` line but `root:*LOCK*:14600::::::` first. True when changed."""
        path = self.config.os_password_path
        text = self.root.read_text(path)
        if text is None:
            log.warning("%s does not exist; root password not locked", path)
            return False
        lines = [line for line in text.splitlines() if not line.startswith("root:")]
        new = "\n".join([ROOT_LOCKED, *lines]) + "\n"
        if new == text:
            return False
        st = os.stat(self.root.resolve(path))
        self.root.write_atomic(path, new, mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid)
        log.info("locked the root password in %s", path)
        return True
