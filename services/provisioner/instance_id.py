"""The VM's instance id (reference §6.10): the SMBIOS UUID with Hyper-V's byte order undone.

Hyper-V stores the first three UUID groups little-endian, so `544CDFD0-CB4E-4B4A-...` in
product_uuid is the VM id `D0DF4C54-4ECB-4A4B-...`. Comparisons ignore case and accept either
byte order (markers written by older agents).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
PRODUCT_UUID = "class/dmi/id/product_uuid"


def _swap_bytes(group: str) -> str:
    return "".join(reversed([group[i : i + 2] for i in range(0, len(group), 2)]))


def swap(uuid: str) -> str:
    """The UUID with its first three groups byte-swapped (its own inverse)."""
    groups = uuid.split("-")
    return "-".join([*(_swap_bytes(g) for g in groups[:3]), *groups[3:]])


def read(sysfs_root: Path) -> str:
    """The instance id, or "" when the firmware gives none (as classic)."""
    try:
        text = (sysfs_root / PRODUCT_UUID).read_text().strip()
    except OSError as exc:
        log.warning("no instance id: %s", exc.strerror or exc)
        return ""
    if not UUID.fullmatch(text):
        log.warning("no instance id: product_uuid %r is not a UUID", text[:40])
        return ""
    return swap(text)


def same(stored: str, current: str) -> bool:
    stored, current = stored.strip().lower(), current.strip().lower()
    if stored == current:
        return True
    return bool(UUID.fullmatch(stored)) and swap(stored) == current
