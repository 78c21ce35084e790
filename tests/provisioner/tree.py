"""Snapshots of a sandbox tree, to prove a refused run changed nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

Entry = tuple[int, int, bytes | str | None]

# The provisioner's own record, this boot's note and the failure's report for the host (Hyper-V
# KVP) may change on a refused run; nothing else.
OWN_FILES = frozenset(
    {"var/lib/waagent/provisioner.json", "run/waagent/provisioner.json", "run/waagent"}
    | {"var/lib/hyperv", "var/lib/hyperv/.kvp_pool_1"}
)


def snapshot(root: Path) -> dict[str, Entry]:
    """path -> (mode, owner, content or link target) of everything under `root`."""
    found: dict[str, Entry] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                content: bytes | str | None = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                content = path.read_bytes()
            else:
                content = None
            found[str(path.relative_to(root))] = (st.st_mode, st.st_uid, content)
    return found


def changes(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Paths added, removed or changed, apart from the provisioner's own record."""
    paths = set(before) | set(after)
    return sorted(p for p in paths if before.get(p) != after.get(p) and p not in OWN_FILES)
