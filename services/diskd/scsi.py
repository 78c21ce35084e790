"""SCSI command timeouts (OS.RootDeviceScsiTimeout, reference §10.4 and §10.9).

Every `block/sd*` disk under the sysfs root gets the configured number of seconds in its
`device/timeout`, written only when the value there differs (the first line is compared).

Disks attached later (a data disk hot-added while diskd is not running) get it from udev: diskd
writes a runtime rule with the configured value into /run/udev/rules.d when it starts, so the
kernel's "add" event sets the timeout before anything uses the disk, without a poll (the classic
agent re-checked every OS.RootDeviceScsiTimeoutPeriod). udevd notices a changed rules directory
by itself; the rule lives in /run, so a reboot starts from the configuration again.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from ..common.root import Root

log = logging.getLogger(__name__)

RUNTIME_RULE = PurePosixPath("/run/udev/rules.d/90-waagent-scsi-timeout.rules")


def rule_text(seconds: int) -> str:
    return (
        "# Written by waagent-diskd from OS.RootDeviceScsiTimeout (/etc/waagent.conf): the SCSI\n"
        "# command timeout of every SCSI disk as it appears. Removed when the key is unset.\n"
        'ACTION=="add", SUBSYSTEM=="block", KERNEL=="sd*[!0-9]", '
        f'ATTR{{device/timeout}}="{seconds}"\n'
    )


class ScsiTimeouts:
    def __init__(self, sysfs_root: Path, root: Root) -> None:
        self.sysfs_root = sysfs_root
        self.root = root

    def keep_applied(self, seconds: int | None) -> None:
        """The udev rule for disks that appear from now on: written with `seconds`, or removed
        when there is no timeout to set. A failure is logged: the disks present still get it."""
        try:
            if seconds is None:
                if self.root.remove(RUNTIME_RULE):
                    log.info("removed %s (OS.RootDeviceScsiTimeout is not set)", RUNTIME_RULE)
                return
            text = rule_text(seconds)
            if self.root.read_text(RUNTIME_RULE) == text:
                return
            self.root.makedirs(RUNTIME_RULE.parent, 0o755)
            self.root.write_atomic(RUNTIME_RULE, text, mode=0o644)
            log.info("SCSI disks that appear from now on get a %s s timeout (%s)",
                     seconds, RUNTIME_RULE)  # fmt: skip
        except OSError as exc:
            log.warning("cannot write %s: %s; disks attached later keep their timeout",
                        RUNTIME_RULE, exc.strerror or exc)  # fmt: skip

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
