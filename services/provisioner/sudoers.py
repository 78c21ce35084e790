"""The sudoers drop-in `<OS.SudoersDir>/waagent` (reference §6.3 d; §7.2 step 9).

The file is rewritten atomically with mode 0440 from the first byte, and a line is added only
when it is not there yet, so a repeated or restarted run never duplicates it.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from ..common.root import Root

log = logging.getLogger(__name__)

DROP_IN = "waagent"
MODE = 0o440


def grant_line(user: str, *, with_password: bool) -> str:
    return f"{user} ALL=(ALL) ALL" if with_password else f"{user} ALL=(ALL) NOPASSWD: ALL"


class Sudoers:
    def __init__(self, root: Root, directory: str) -> None:
        self.root = root
        self.directory = PurePosixPath(directory)
        self.path = self.directory / DROP_IN

    def _lines(self) -> list[str]:
        return (self.root.read_text(self.path) or "").splitlines()

    def _write(self, lines: list[str]) -> None:
        self.root.write_atomic(self.path, "".join(f"{line}\n" for line in lines), mode=MODE)

    def _ensure_directory(self) -> None:
        """A directory that had to be made is included from sudoers, as classic does."""
        if self.root.resolve(self.directory).is_dir():
            return
        self.root.makedirs(self.directory, 0o750)
        main = self.directory.parent / "sudoers"
        text = self.root.read_text(main) or ""
        include = f"#includedir {self.directory}"
        if include not in text.splitlines():
            self.root.write_atomic(main, f"{text}\n{include}\n", mode=MODE)

    def grant(self, user: str, *, with_password: bool) -> bool:
        """Add the user's line (NOPASSWD when no password was given). True when changed."""
        self._ensure_directory()
        line = grant_line(user, with_password=with_password)
        lines = self._lines()
        if line in lines:
            return False
        self._write([*lines, line])
        log.info("sudo rights for %s in %s", user, self.path)
        return True

    def revoke(self, user: str) -> bool:
        """Remove the lines that grant to `user` (its first field, not any mention)."""
        lines = self._lines()
        kept = [line for line in lines if line.split(maxsplit=1)[:1] != [user]]
        if kept == lines:
            return False
        self._write(kept)
        return True
