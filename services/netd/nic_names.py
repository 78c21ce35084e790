"""`waagent-nic-names`: keep the persistent-net udev rules out of the way (reference §10.4).

On older distros udev's generator writes `70-persistent-net.rules`, which pins a NIC name to a
MAC address; Azure may give a VM a new MAC (resize, redeploy), and the NIC then comes up as
`eth1` with no configuration. As the classic agent does, both files are moved into Lib.Dir
(kept, not deleted, so an admin can look at them); where they do not exist (every current
distro) this does nothing. waagent-nic-names.path runs it whenever one appears, at boot or later.

It runs as root with no capability at all: the files and directories are root's own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import PurePosixPath

from ..common import config as config_mod
from ..common import logs
from ..common.errors import ConfigError
from ..common.root import Root

log = logging.getLogger(__name__)

PERSISTENT_NET_RULES = (
    PurePosixPath("/lib/udev/rules.d/75-persistent-net-generator.rules"),
    PurePosixPath("/etc/udev/rules.d/70-persistent-net.rules"),
)


def move_aside(root: Root, lib_dir: str | PurePosixPath) -> list[PurePosixPath]:
    """Move each rule file present into Lib.Dir (same name; an older copy there is replaced);
    returns the files moved."""
    moved = []
    for rules in PERSISTENT_NET_RULES:
        data = root.read_bytes(rules)
        if data is None:
            continue
        root.makedirs(lib_dir, 0o700)
        # Copied, then removed: the two may be on different filesystems (the unit's sandbox
        # mounts each writable path on its own), where a rename fails with EXDEV.
        root.write_atomic(PurePosixPath(lib_dir) / rules.name, data, mode=0o644)
        root.remove(rules)
        log.info("moved %s into %s: NIC names no longer follow MAC addresses", rules, lib_dir)
        moved.append(rules)
    return moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="waagent-nic-names", description="move the persistent-net udev rules into Lib.Dir"
    )
    parser.add_argument("--root", default="/", help="the system's root directory")
    parser.add_argument("--config", default=None, help="the configuration file")
    args = parser.parse_args(argv)
    root = Root(args.root)
    logs.setup("waagent-nic-names")
    try:
        path = args.config or root.join(str(config_mod.DEFAULT_PATH))
        config = config_mod.load(path).config
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        return 1
    logs.setup("waagent-nic-names", log_file=root.join(config.logs_file))
    try:
        move_aside(root, config.lib_dir)
    except OSError as exc:
        log.error("cannot move the persistent-net rules: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
