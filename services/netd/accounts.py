"""Who may reach the WireServer: root and the wire service's user, read from the root's passwd.

The file is read (not NSS): the uid must be the one in the root the rules are made for, and
sysusers puts `waagent-wire` in /etc/passwd.
"""

from __future__ import annotations

import logging

from ..common.names import WIRE_USER
from ..common.root import Root

log = logging.getLogger(__name__)


def uid_of(root: Root, user: str) -> int | None:
    for line in (root.read_text("/etc/passwd") or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == user and fields[2].isdigit():
            return int(fields[2])
    return None


def allowed_uids(root: Root) -> tuple[int, ...]:
    """Root, and waagent-wire when it exists (without it wire cannot run anyway: say so)."""
    wire = uid_of(root, WIRE_USER)
    if wire is None:
        log.warning("user %s not found in %s/etc/passwd: only root may reach the WireServer",
                    WIRE_USER, root)  # fmt: skip
        return (0,)
    return (0, wire)
