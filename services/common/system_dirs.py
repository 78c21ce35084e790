"""Directories of the operating system that no disk may be mounted on (or formatted for).

A resource disk mounted on `/etc` or `/usr` hides the system under an empty filesystem (and the
classic agent would format and mount there without a word). Refused: the root and the
top-level system directories themselves, and anything inside the trees that hold only system
content (a mount on `/usr/local` or `/etc/ssh` hides as much). Inside `/var`, `/home`, `/run`
and the like, a subdirectory is the admin's to choose (`/var/lib/docker` on the resource disk is
a known practice); `/mnt` and `/media` are where disks go.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath

# No mount on these nor anywhere below them.
SYSTEM_TREES = frozenset(
    {"/bin", "/boot", "/dev", "/efi", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc"}
    | {"/sbin", "/sys", "/usr"}
)
# No mount on these themselves.
SYSTEM_DIRS = SYSTEM_TREES | {"/", "/home", "/opt", "/root", "/run", "/srv", "/tmp", "/var"}  # noqa: S108


def normalized(path: str | PurePosixPath) -> str:
    """The absolute path with `.`, `..` and repeated slashes folded (no symlinks followed)."""
    return posixpath.normpath("/" + str(path).lstrip("/"))


def system_dir_of(path: str | PurePosixPath) -> str | None:
    """The system directory `path` is or lies in, or None when a mount there is fine."""
    folded = normalized(path)
    if folded in SYSTEM_DIRS:
        return folded
    for parent in PurePosixPath(folded).parents:
        if str(parent) in SYSTEM_TREES:
            return str(parent)
    return None


def refusal(path: str | PurePosixPath) -> str | None:
    """Why a disk may not be mounted at `path` (None when it may)."""
    found = system_dir_of(path)
    if found is None:
        return None
    where = "is" if found == normalized(path) else f"is inside {found}, which is"
    return f"{normalized(path)} {where} a system directory"
