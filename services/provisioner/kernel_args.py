"""Kernel command-line arguments, and the shell-quoted GRUB variables that carry them.

`/etc/default/grub` and its `grub.d/*.cfg` drop-ins are shell scripts that grub-mkconfig
sources: `GRUB_CMDLINE_LINUX_DEFAULT="quiet console=tty0"`, `'...'`, bare words, `$VAR`
references to the previous value. An assignment is parsed into its words as they would read
inside double quotes (a `$GRUB_CMDLINE_LINUX` reference stays a reference), edited as words,
and written back as one double-quoted value, so the shell reads the same thing plus our edit.
A value continued over several lines, or quotes left open, is refused rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..common.errors import Failed

_ASSIGNMENT = re.compile(
    r"^(?P<lead>\s*(?:export\s+)?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<rest>.*)$"
)
# Characters that keep their special meaning inside double quotes.
_DQ_SPECIAL = '\\"$`'


class UnparsableLine(Failed):
    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}; edit the boot loader configuration by hand")


@dataclass(frozen=True)
class KernelArg:
    """`name=value` on the kernel command line."""

    name: str
    value: str

    @property
    def text(self) -> str:
        return f"{self.name}={self.value}"

    def satisfied_by(self, words: Sequence[str]) -> bool:
        """The kernel honours the last `name=`: it must be ours (options after a comma allowed,
        as in console=ttyS0,115200n8)."""
        values = [w.partition("=")[2] for w in words if w.partition("=")[0] == self.name]
        return bool(values) and (
            values[-1] == self.value or values[-1].startswith(self.value + ",")
        )


def missing(args: Iterable[KernelArg], words: Sequence[str]) -> list[str]:
    return [arg.text for arg in args if not arg.satisfied_by(words)]


def remove_last(words: Sequence[str], tokens: Iterable[str]) -> list[str]:
    """`words` without the last occurrence of each token (the one we appended)."""
    result = list(words)
    for token in tokens:
        for i in range(len(result) - 1, -1, -1):
            if result[i] == token:
                del result[i]
                break
    return result


@dataclass(frozen=True)
class Assignment:
    """`NAME=value` on line `index` of a shell file; `words` as double-quoted text."""

    index: int
    lead: str
    name: str
    words: tuple[str, ...]
    trailing: str

    def render(self, words: Sequence[str]) -> str:
        return f'{self.lead}{self.name}="{" ".join(words)}"{self.trailing}'


def _quoted(rest: str, i: int, quote: str, out: list[str]) -> int:
    """Copy a quoted part starting after its quote as double-quoted content; the index after
    the closing quote, or -1 when it is not closed."""
    while i < len(rest):
        c = rest[i]
        if c == quote:
            return i + 1
        if quote == "'":
            out.append("\\" + c if c in _DQ_SPECIAL else c)
        elif c == "\\" and i + 1 < len(rest):
            out.append(rest[i : i + 2])
            i += 1
        else:
            out.append(c)
        i += 1
    return -1


def _dq_value(rest: str, where: str) -> tuple[str, str]:
    """The value at the start of `rest` as double-quoted content, and what follows it."""
    out: list[str] = []
    i = 0
    while i < len(rest):
        c = rest[i]
        if c in " \t;":
            return "".join(out), rest[i:]
        if c in "'\"":
            i = _quoted(rest, i + 1, c, out)
            if i < 0:
                raise UnparsableLine(where, f"the value's {c} quote is not closed on its line")
            continue
        if c == "\\":
            if i + 1 >= len(rest):
                raise UnparsableLine(where, "the value continues on the next line")
            c = rest[i + 1]
            out.append("\\" + c if c in _DQ_SPECIAL else c)
            i += 1
        else:
            out.append(c)
        i += 1
    return "".join(out), ""


def split_words(content: str) -> tuple[str, ...]:
    """Double-quoted content split at unescaped blanks (how the kernel line is split)."""
    return tuple(re.split(r"(?<!\\)[ \t]+", content.strip())) if content.strip() else ()


def assignments(text: str, names: Iterable[str], path: str) -> list[Assignment]:
    """The assignments of `names` in a shell file, in order."""
    wanted = set(names)
    found = []
    for index, line in enumerate(text.splitlines()):
        match = _ASSIGNMENT.match(line)
        if match is None or match["name"] not in wanted:
            continue
        content, trailing = _dq_value(match["rest"], f"{path}:{index + 1}")
        found.append(
            Assignment(index, match["lead"], match["name"], split_words(content), trailing)
        )
    return found


def expand(words: Sequence[str], name: str, previous: Sequence[str]) -> tuple[str, ...]:
    """`words` with `$name` / `${name}` replaced by the variable's previous words."""
    pattern = re.compile(r"\$(?:\{" + name + r"\}|" + name + r"(?![A-Za-z0-9_]))")
    joined = " ".join(previous)
    return split_words(" ".join(pattern.sub(lambda _: joined, w) for w in words))


def is_reference(word: str, name: str) -> bool:
    return word in (f"${name}", f"${{{name}}}")


def replace_line(text: str, index: int, line: str) -> str:
    lines = text.splitlines()
    lines[index] = line
    return "\n".join(lines) + "\n"


def append_line(text: str, line: str) -> str:
    body = text if not text or text.endswith("\n") else text + "\n"
    return body + line + "\n"
