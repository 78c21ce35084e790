"""sshd settings (reference §6.7): the classic edit of `<OS.SshDir>/sshd_config` itself.

The settings live in the one file admins and extensions edit, so a later edit of that file (an
extension replacing our `PasswordAuthentication no` line, as VMAccess does) takes effect. The
classic rule per keyword: replace the first line of the keyword outside any Match block; else
insert it before the first Match block (`Match all` ends a block); else append it. Commented
lines are never touched. `ChallengeResponseAuthentication` is a deprecated alias of
`KbdInteractiveAuthentication` since OpenSSH 8.7: a line of either name is the same setting,
and a line that exists keeps its name (a missing one is written with the classic name, which
every OpenSSH version reads).

sshd keeps the first value it reads. Debian 12's sshd_config includes `sshd_config.d/*.conf` at
its top, so an image's drop-in (cloud-init's `50-cloud-init.conf`) would shadow the edit. When a
drop-in read before our line sets one of our keywords to a *different* value, our line goes just
before that `Include` (still in sshd_config, so an edit of it still wins) and a warning names the
drop-in: the VM's provisioning request wins over an image default. A drop-in that agrees is left
alone. Earlier versions wrote `sshd_config.d/10-waagent.conf`, which shadowed later edits; it is
removed when found.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..common.errors import NotFound
from ..common.root import Root

log = logging.getLogger(__name__)

OLD_DROP_IN = "sshd_config.d/10-waagent.conf"
OLD_DROP_IN_HEADER = "# Written by waagent when provisioning this VM."
ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication"}
MAX_INCLUDE_DEPTH = 8  # sshd's own limit is 16; deeper nesting is not worth following here


def settings(*, disable_password: bool, client_alive_interval: int) -> dict[str, str]:
    value = "no" if disable_password else "yes"
    return {
        "PasswordAuthentication": value,
        "ChallengeResponseAuthentication": value,
        "ClientAliveInterval": str(client_alive_interval),
    }


def canonical(keyword: str) -> str:
    low = keyword.lower()
    return ALIASES.get(low, low)


def _words(line: str) -> list[str]:
    words = line.split()
    return [] if not words or words[0].startswith("#") else words


def _ends_match_block(words: list[str]) -> bool:
    return len(words) > 1 and words[1].lower() == "all"


def _first_match_block(lines: list[str]) -> int | None:
    """The index of the first Match line that opens a block (`Match all` closes one)."""
    for i, line in enumerate(lines):
        words = _words(line)
        if words and words[0].lower() == "match" and not _ends_match_block(words):
            return i
    return None


def _top_level(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(index, words) of each setting outside a Match block."""
    in_match = False
    for i, line in enumerate(lines):
        words = _words(line)
        if not words:
            continue
        if words[0].lower() == "match":
            in_match = not _ends_match_block(words)
        elif not in_match:
            yield i, words


@dataclass(frozen=True)
class Setting:
    """Where sshd first reads a keyword: `include` is the index of the main file's Include line
    that brought it in, None when it is a line of the main file itself."""

    file: Path
    value: str
    include: int | None


class SshdConfig:
    def __init__(self, root: Root, ssh_dir: str) -> None:
        self.root = root
        self.ssh_dir = PurePosixPath(ssh_dir)
        self.main = self.ssh_dir / "sshd_config"
        self.old_drop_in = self.ssh_dir / OLD_DROP_IN

    def apply(self, values: Mapping[str, str]) -> PurePosixPath:
        """Make sshd use `values`; returns the file edited. An unchanged file is kept."""
        text = self.root.read_text(self.main)
        if text is None:
            raise NotFound(f"cannot configure sshd: {self.main} does not exist")
        lines = edit_in_place(text.splitlines(), values)
        for keyword, value in values.items():
            lines = self._win_over_drop_ins(lines, keyword, value)
        new = "\n".join(lines) + "\n"
        if new != text:
            st = os.stat(self.root.resolve(self.main))
            self.root.write_atomic(
                self.main, new, mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid
            )
        self.remove_old_drop_in()
        log.info("sshd settings in %s", self.main)
        return self.main

    def remove_old_drop_in(self) -> bool:
        """Delete the drop-in earlier versions wrote (only when it is ours)."""
        text = self.root.read_text(self.old_drop_in)
        if text is None:
            return False
        if not text.startswith(OLD_DROP_IN_HEADER):
            log.warning("%s was not written by waagent: left alone", self.old_drop_in)
            return False
        self.root.remove(self.old_drop_in)
        log.info("removed %s of an earlier waagent version", self.old_drop_in)
        return True

    def first_setting(self, lines: list[str], keyword: str) -> Setting | None:
        """The value sshd takes for `keyword`, following top-level Includes in order."""
        main = self.root.resolve(self.main)
        for i, words in _top_level(lines):
            if canonical(words[0]) == canonical(keyword):
                return Setting(main, " ".join(words[1:]), None)
            if words[0].lower() == "include":
                found = self._in_includes(words[1:], keyword, depth=1)
                if found is not None:
                    return Setting(found.file, found.value, i)
        return None

    def _win_over_drop_ins(self, lines: list[str], keyword: str, value: str) -> list[str]:
        first = self.first_setting(lines, keyword)
        if first is None or first.include is None or first.value.lower() == value.lower():
            return lines
        log.warning(
            "sshd: %s sets %s %s, which would override %s %s in %s; "
            "writing ours before that Include so the provisioning request wins",
            self.root.inner(first.file),
            keyword,
            first.value,
            keyword,
            value,
            self.main,
        )
        ours = next(i for i, w in _top_level(lines) if canonical(w[0]) == canonical(keyword))
        at = first.include
        return [*lines[:at], lines[ours], *lines[at:ours], *lines[ours + 1 :]]

    def _in_includes(self, patterns: list[str], keyword: str, depth: int) -> Setting | None:
        if depth > MAX_INCLUDE_DEPTH:
            return None
        for path in self._expand(patterns):
            text = path.read_text(errors="replace") if path.is_file() else ""
            for _, words in _top_level(text.splitlines()):
                if canonical(words[0]) == canonical(keyword):
                    return Setting(path, " ".join(words[1:]), None)
                if words[0].lower() == "include":
                    found = self._in_includes(words[1:], keyword, depth + 1)
                    if found is not None:
                        return found
        return None

    def _expand(self, patterns: list[str]) -> Iterator[Path]:
        """The files of Include patterns, in sshd's order (relative ones are under the ssh dir)."""
        for raw in patterns:
            pattern = PurePosixPath(raw.strip('"'))
            full = pattern if pattern.is_absolute() else self.ssh_dir / pattern
            if ".." in full.parts:
                continue
            yield from self.root.glob(full.parent, full.name)


def edit_in_place(lines: list[str], values: Mapping[str, str]) -> list[str]:
    """The classic edit of sshd_config lines (see the module docstring)."""
    lines = list(lines)
    for keyword, value in values.items():
        found = next(
            ((i, w) for i, w in _top_level(lines) if canonical(w[0]) == canonical(keyword)), None
        )
        if found is not None:
            i, words = found
            name = keyword if words[0].lower() == keyword.lower() else words[0]
            lines[i] = f"{name} {value}"
            continue
        first_match = _first_match_block(lines)
        wanted = f"{keyword} {value}"
        if first_match is None:
            lines.append(wanted)
        else:
            lines.insert(first_match, wanted)
    return lines
