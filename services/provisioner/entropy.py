"""waagent-entropy: Hyper-V's entropy seed into the kernel's random pool, once at boot.

Hyper-V puts random bytes from the host in the `OEM0` ACPI table (reference §10.8; the classic
2.0 agent copied it to /dev/random at start). A oneshot unit runs this with nothing but that
access: read `/sys/firmware/acpi/tables/OEM0`, write `/dev/random`.

Writing to /dev/random *mixes* the bytes into the pool without crediting any entropy. Crediting
would need the RNDADDENTROPY ioctl and CAP_SYS_ADMIN; we do not: the table is readable by any
root process for the whole boot (so its bytes are not secret from the guest's own root), and
the kernel's pool is already seeded by the CPU's RDRAND/RDSEED and interrupt timing on Azure
hardware. Mixing costs nothing and can only add unpredictability; crediting a possibly reused
value would overstate it. So the unit keeps an empty capability set.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..common import logs
from ..common.root import NotRegularFile, read_regular_file

log = logging.getLogger(__name__)

TABLE = "firmware/acpi/tables/OEM0"
# The table is 64 bytes of seed plus its ACPI header; anything far larger is not that table.
LIMIT = 64 * 1024


def feed(sysfs_root: Path, target: Path) -> int:
    """Copy the table into `target` (opened for writing, never created); the bytes written,
    0 when this is not a Hyper-V guest."""
    source = sysfs_root / TABLE
    try:
        data, _ = read_regular_file(source, LIMIT)
    except FileNotFoundError:
        log.info("%s does not exist: not a Hyper-V guest, nothing to feed", source)
        return 0
    except NotRegularFile as exc:
        log.warning("%s: %s; not used", source, exc.strerror)
        return 0
    fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    log.info("%d bytes of %s mixed into %s (not credited)", len(data), source, target)
    return len(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waagent-entropy", description=__doc__.splitlines()[0])
    parser.add_argument("--sysfs-root", default="/sys", type=Path)
    parser.add_argument("--target", default="/dev/random", type=Path)
    args = parser.parse_args(argv)
    logs.setup("waagent-entropy")
    try:
        feed(args.sysfs_root, args.target)
    except OSError as exc:
        # Errors are reported and otherwise ignored, as classic: the boot goes on.
        log.warning("could not feed %s: %s", args.target, exc.strerror or exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
