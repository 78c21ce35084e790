"""SCSI command timeouts (OS.RootDeviceScsiTimeout, reference §10.4 and §10.9).

Every `block/sd*` disk under the sysfs root gets the configured number of seconds in its
`device/timeout`, written only when the value there differs (the first line is compared).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class ScsiTimeouts:
    def __init__(self, sysfs_root: Path) -> None:
        self.sysfs_root = sysfs_root

    def apply(self, seconds: int) -> list[str]:
        """Write the timeout where it differs; returns the disks that were changed."""
        wanted = str(seconds)
        changed = []
        for disk in sorted((self.sysfs_root / "block").glob("sd*")):
            timeout = disk / "device" / "timeout"
            try:
                current = timeout.read_text().splitlines()
            except OSError as exc:
                log.debug("%s: no SCSI timeout to set (%s)", disk.name, exc.strerror)
                continue
            if current and current[0].strip() == wanted:
                continue
            try:
                timeout.write_text(wanted)
            except OSError as exc:
                log.warning("%s: cannot set the SCSI timeout: %s", disk.name, exc.strerror)
                continue
            log.info("%s: SCSI timeout set to %s s", disk.name, wanted)
            changed.append(disk.name)
        return changed
