"""Editing the kernel command line in the boot-loader configuration the distribution uses.

Each layout present in the root gets the arguments, once:

- GRUB defaults: `/etc/default/grub` and its `grub.d/*.cfg` drop-ins, sourced in that order,
  read together. Debian/Ubuntu set `GRUB_CMDLINE_LINUX_DEFAULT` (normal entries), RHEL only
  `GRUB_CMDLINE_LINUX`: the first is edited when it is assigned anywhere, else the second.
  Where drop-ins are the convention (a `grub.d` with `*.cfg`, Ubuntu cloud images) ours is
  `grub.d/99-waagent.cfg`, extending the value the earlier files set; otherwise the last
  assignment in `/etc/default/grub` is edited in place. grub.cfg is then regenerated.
- BLS entries (`/boot/loader/entries/*.conf`, RHEL >= 8, Fedora): each `options` line, except
  those that defer to `$kernelopts` (grub2-mkconfig fills that from GRUB_CMDLINE_LINUX), and
  `/etc/kernel/cmdline` when present (what kernel-install gives the next kernels' entries).
- GRUB legacy `/boot/grub/menu.lst`: each `kernel` line.

An argument counts as present when the kernel would honour it (the last `console=` is ours).
A plan is a list of `Change`s (file before/after, the words added), so a dry run shows the
diff of exactly what would be written, and an undo removes exactly the words we added.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..common.errors import Failed
from ..common.root import Root
from . import kernel_args as ka
from .kernel_args import KernelArg

GRUB_DEFAULT = "/etc/default/grub"
GRUB_D = "/etc/default/grub.d"
DROP_IN = f"{GRUB_D}/99-waagent.cfg"
DROP_IN_HEADER = (
    "# Written by waagent: kernel arguments it added (waagent -serialconsole); remove them\n"
    "# with waagent -serialconsole=off. The value extends what the files before it set.\n"
)
LINUX, LINUX_DEFAULT = "GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"
BLS_ENTRIES = "/boot/loader/entries"
KERNEL_CMDLINE = "/etc/kernel/cmdline"
MENU_LST = "/boot/grub/menu.lst"
_KEYWORD = re.compile(r"^(?P<lead>\s*)(?P<key>options|kernel)(?P<sep>[ \t]+)(?P<value>.*)$")


@dataclass(frozen=True)
class Change:
    path: str  # inside the root
    before: str | None  # None: the file is new
    after: str | None  # None: the file is deleted
    added: tuple[str, ...] = ()

    @property
    def regenerates_grub(self) -> bool:
        return self.path == GRUB_DEFAULT or self.path.startswith(GRUB_D + "/")

    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            (self.after or "").splitlines(keepends=True),
            "/dev/null" if self.before is None else f"a{self.path}",
            "/dev/null" if self.after is None else f"b{self.path}",
        )
        return "".join(lines)


@dataclass
class _GrubChain:
    """The GRUB defaults files in the order grub-mkconfig sources them."""

    texts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Root) -> _GrubChain:
        chain = cls()
        main = root.read_text(GRUB_DEFAULT)
        if main is not None:
            chain.texts[GRUB_DEFAULT] = main
        for path in root.glob(GRUB_D, "*.cfg"):
            chain.texts[str(root.inner(path))] = path.read_text(errors="replace")
        return chain

    def order(self) -> list[str]:
        drop_ins = sorted(p for p in self.texts if p != GRUB_DEFAULT)
        return ([GRUB_DEFAULT] if GRUB_DEFAULT in self.texts else []) + drop_ins

    def variable(self) -> str:
        assigned = any(ka.assignments(t, [LINUX_DEFAULT], p) for p, t in self.texts.items())
        return LINUX_DEFAULT if assigned else LINUX

    def value(self, name: str) -> tuple[str, ...]:
        words: tuple[str, ...] = ()
        for path in self.order():
            for assignment in ka.assignments(self.texts[path], [name], path):
                words = ka.expand(assignment.words, name, words)
        return words

    def kernel_words(self, variable: str) -> tuple[str, ...]:
        """The words grub-mkconfig puts on a normal entry's kernel line."""
        return self.value(LINUX) + (self.value(LINUX_DEFAULT) if variable == LINUX_DEFAULT else ())


def _uses_drop_ins(chain: _GrubChain) -> bool:
    return any(p != GRUB_DEFAULT for p in chain.texts)


def _grub_add(root: Root, args: Sequence[KernelArg]) -> list[Change]:
    chain = _GrubChain.read(root)
    if not chain.texts:
        return []
    variable = chain.variable()
    wanted = ka.missing(args, chain.kernel_words(variable))
    if not wanted:
        return []
    target = DROP_IN if _uses_drop_ins(chain) else GRUB_DEFAULT
    before = chain.texts.get(target)
    text = before if before is not None else DROP_IN_HEADER
    found = ka.assignments(text, [variable], target)
    if found:
        last = found[-1]
        after = ka.replace_line(text, last.index, last.render([*last.words, *wanted]))
    else:
        start = [f"${variable}"] if target == DROP_IN else []
        after = ka.append_line(text, f'{variable}="{" ".join([*start, *wanted])}"')
    chain.texts[target] = after
    if ka.missing(args, chain.kernel_words(variable)):
        later = [p for p in chain.order() if p > target and p != GRUB_DEFAULT]
        raise Failed(
            f"{', '.join(later) or target} sets {variable} after {target} without extending it;"
            " add the arguments there by hand"
        )
    return [Change(target, before, after, tuple(wanted))]


def _grub_remove(path: str, text: str, tokens: Sequence[str], variable: str) -> str | None:
    """Take the tokens out of the assignment they were added to: the last of `variable`,
    then the other variable's (a hand-moved argument)."""
    names = [LINUX, LINUX_DEFAULT]
    found = ka.assignments(text, names, path)
    order = [a for a in reversed(found) if a.name == variable]
    order += [a for a in reversed(found) if a.name != variable]
    todo = list(tokens)
    for assignment in order:
        words = list(assignment.words)
        for token in [t for t in todo if t in words]:
            words = ka.remove_last(words, [token])
            todo.remove(token)
        if words != list(assignment.words):
            text = ka.replace_line(text, assignment.index, assignment.render(words))
    if path == DROP_IN and all(
        ka.is_reference(w, a.name) for a in ka.assignments(text, names, path) for w in a.words
    ):
        return None  # only our header and "$VAR" are left
    return text


def _keyword_lines(text: str, key: str) -> list[tuple[int, re.Match[str]]]:
    matches = ((i, _KEYWORD.match(line)) for i, line in enumerate(text.splitlines()))
    return [(i, m) for i, m in matches if m is not None and m["key"] == key]


def _edit_keyword_lines(text: str, key: str, edit: Callable[[list[str]], list[str]]) -> str:
    for index, match in _keyword_lines(text, key):
        words = match["value"].split()
        new = edit(words)
        if new != words:
            line = f"{match['lead']}{key}{match['sep']}{' '.join(new)}"
            text = ka.replace_line(text, index, line)
    return text


class _WordsEdit:
    """Adds the missing arguments to a word list (one per line edited) and keeps what it added."""

    def __init__(self, args: Sequence[KernelArg], skip_first: bool = False) -> None:
        self.args, self.skip_first = args, skip_first
        self.added: list[str] = []

    def __call__(self, words: list[str]) -> list[str]:
        if any("$kernelopts" in w for w in words):
            return words  # the grubenv value, regenerated from GRUB_CMDLINE_LINUX
        wanted = ka.missing(self.args, words[1:] if self.skip_first else words)
        self.added += [w for w in wanted if w not in self.added]
        return [*words, *wanted]


def _plain_add(root: Root, args: Sequence[KernelArg]) -> list[Change]:
    """BLS entries, /etc/kernel/cmdline and menu.lst: words after a keyword, or a whole file."""
    changes = []
    files: list[tuple[str, str | None]] = [
        (str(root.inner(p)), "options") for p in root.glob(BLS_ENTRIES, "*.conf")
    ]
    files += [(KERNEL_CMDLINE, None), (MENU_LST, "kernel")]
    for path, key in files:
        before = root.read_text(path)
        if before is None:
            continue
        edit = _WordsEdit(args, skip_first=key == "kernel")
        if key is None:
            after = " ".join(edit(before.split())) + "\n"
        else:
            after = _edit_keyword_lines(before, key, edit)
            if key == "options" and not _keyword_lines(before, key):
                after = ka.append_line(before, "options " + " ".join(edit([])))
        if edit.added:
            changes.append(Change(path, before, after, tuple(edit.added)))
    return changes


def plan_add(root: Root, args: Sequence[KernelArg]) -> list[Change]:
    """The changes that put `args` on the kernel command line of every layout present."""
    return _grub_add(root, args) + _plain_add(root, args)


def plan_remove(root: Root, added: Mapping[str, Sequence[str]]) -> list[Change]:
    """The changes that take out the words recorded as added, file by file."""
    changes = []
    variable = _GrubChain.read(root).variable()
    for path, tokens in added.items():
        before = root.read_text(path)
        if before is None:
            continue
        after: str | None
        if path == GRUB_DEFAULT or path.startswith(GRUB_D + "/"):
            after = _grub_remove(path, before, tokens, variable)
        elif path == KERNEL_CMDLINE:
            after = " ".join(ka.remove_last(before.split(), tokens)) + "\n"
        else:
            key = "kernel" if PurePosixPath(path).name == "menu.lst" else "options"
            after = _edit_keyword_lines(
                before, key, functools.partial(ka.remove_last, tokens=tokens)
            )
        if after != before:
            changes.append(Change(path, before, after))
    return changes
