"""sshd settings (reference §6.7): a drop-in when sshd_config includes one, else the classic edit.

sshd keeps the first value it reads for a keyword. When sshd_config has an `Include` (outside any
Match block) that matches `sshd_config.d/10-waagent.conf`, before any line setting one of our
keywords, the settings go into that drop-in: the image's own file stays untouched, and the early
name wins over later drop-ins such as cloud-init's 50-cloud-init.conf. Otherwise sshd_config is
edited in place with the classic rules: the first line of a keyword outside a Match block is
replaced; a missing keyword goes before the first Match block (`Match all` ends a block), or at
the end of a file without one.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Mapping
from pathlib import PurePosixPath

from ..common.errors import NotFound
from ..common.root import Root

log = logging.getLogger(__name__)

DROP_IN = "sshd_config.d/10-waagent.conf"


def settings(*, disable_password: bool, client_alive_interval: int) -> dict[str, str]:
    value = "no" if disable_password else "yes"
    return {
        "PasswordAuthentication": value,
        "ChallengeResponseAuthentication": value,
        "ClientAliveInterval": str(client_alive_interval),
    }


def _words(line: str) -> list[str]:
    words = line.split()
    return [] if not words or words[0].startswith("#") else words


def _ends_match_block(words: list[str]) -> bool:
    return len(words) > 1 and words[1].lower() == "all"


class SshdConfig:
    def __init__(self, root: Root, ssh_dir: str) -> None:
        self.root = root
        self.ssh_dir = PurePosixPath(ssh_dir)
        self.main = self.ssh_dir / "sshd_config"
        self.drop_in = self.ssh_dir / DROP_IN

    def apply(self, values: Mapping[str, str]) -> PurePosixPath:
        """Make sshd use `values`; returns the file that holds them. Unchanged files are kept."""
        text = self.root.read_text(self.main)
        if text is None:
            raise NotFound(f"cannot configure sshd: {self.main} does not exist")
        lines = text.splitlines()
        if self._includes_drop_in(lines, values):
            body = "# Written by waagent when provisioning this VM.\n"
            body += "".join(f"{key} {value}\n" for key, value in values.items())
            if self.root.read_text(self.drop_in) != body:
                self.root.makedirs(self.drop_in.parent, 0o755)
                self.root.write_atomic(self.drop_in, body, mode=0o644)
            log.info("sshd settings in %s", self.drop_in)
            return self.drop_in
        edited = edit_in_place(lines, values)
        new = "\n".join(edited) + "\n"
        if new != text:
            st = os.stat(self.root.resolve(self.main))
            self.root.write_atomic(
                self.main, new, mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid
            )
        log.info("sshd settings in %s", self.main)
        return self.main

    def _includes_drop_in(self, lines: list[str], values: Mapping[str, str]) -> bool:
        keywords = {key.lower() for key in values}
        in_match = False
        for line in lines:
            words = _words(line)
            if not words:
                continue
            key = words[0].lower()
            if key == "match":
                in_match = not _ends_match_block(words)
            elif in_match:
                continue
            elif key in keywords:
                return False  # set before any include: it would win over a drop-in
            elif key == "include" and any(self._matches(p) for p in words[1:]):
                return True
        return False

    def _matches(self, pattern: str) -> bool:
        pattern = pattern.strip('"')
        full = pattern if pattern.startswith("/") else str(self.ssh_dir / pattern)
        return fnmatch.fnmatchcase(str(self.drop_in), full)


def edit_in_place(lines: list[str], values: Mapping[str, str]) -> list[str]:
    """The classic edit of sshd_config lines (see the module docstring)."""
    lines = list(lines)
    for keyword, value in values.items():
        wanted = f"{keyword} {value}"
        in_match = False
        first_match: int | None = None
        done = False
        for i, line in enumerate(lines):
            words = _words(line)
            if not words:
                continue
            if words[0].lower() == "match":
                in_match = not _ends_match_block(words)
                if in_match and first_match is None:
                    first_match = i
            elif not in_match and words[0].lower() == keyword.lower():
                lines[i] = wanted
                done = True
                break
        if not done:
            if first_match is None:
                lines.append(wanted)
            else:
                lines.insert(first_match, wanted)
    return lines
