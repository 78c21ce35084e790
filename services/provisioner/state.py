"""The provisioner's files: the classic ones in Lib.Dir, its own record, and a note for this boot.

* `<Lib.Dir>/provisioned` (the instance id), `disable_agent`, `ovf-env.xml` (redacted, 0600):
  the classic contract other products read.
* `<Lib.Dir>/provisioner.json`: the status shown on the bus and what a restarted run must not
  repeat (see `Record`). Deprovisioning empties Lib.Dir, and so forgets it with the marker.
* `/run/waagent/provisioner.json`: what this boot already did (a run ended, or the VM was
  deprovisioned). A service started again in the same boot (bus activation after an idle exit)
  then only shows the state, and never provisions a VM that was just deprovisioned for capture.
  A run killed half-way leaves no note, so the next start finishes it.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Literal

from pydantic import ValidationError

from ..common.models.base import FrozenModel
from ..common.root import Root
from .models import Record

log = logging.getLogger(__name__)

MARKER = "provisioned"
DISABLE_AGENT = "disable_agent"
SAVED_OVF = "ovf-env.xml"
RECORD = "provisioner.json"
BOOT_NOTE = PurePosixPath("/run/waagent/provisioner.json")

Outcome = Literal["ran", "deprovisioned"]


class BootNote(FrozenModel):
    boot_id: str
    outcome: Outcome


class StateStore:
    def __init__(self, root: Root, lib_dir: str, boot_id: str) -> None:
        self.root = root
        self.lib_dir = PurePosixPath(lib_dir)
        self.boot_id = boot_id

    def path(self, name: str) -> PurePosixPath:
        return self.lib_dir / name

    def _write(self, name: str, data: str | bytes, mode: int) -> None:
        self.root.makedirs(self.lib_dir, 0o700)
        self.root.write_atomic(self.path(name), data, mode=mode)

    # ---- the record ----

    def load(self) -> Record:
        text = self.root.read_text(self.path(RECORD))
        if text is None:
            return Record()
        try:
            return Record.model_validate_json(text)
        except ValidationError:
            log.warning("%s is unreadable; starting from scratch", self.path(RECORD))
            return Record()

    def save(self, record: Record) -> None:
        self._write(RECORD, record.model_dump_json(indent=1) + "\n", 0o600)

    # ---- classic files ----

    def marker(self) -> str | None:
        return self.root.read_text(self.path(MARKER))

    def write_marker(self, instance_id: str) -> None:
        self._write(MARKER, instance_id, 0o644)

    def disable_agent(self) -> None:
        self._write(DISABLE_AGENT, "", 0o644)

    def save_ovf(self, redacted: bytes) -> None:
        self._write(SAVED_OVF, redacted, 0o600)

    def saved_ovf(self) -> bytes | None:
        return self.root.read_bytes(self.path(SAVED_OVF))

    # ---- this boot ----

    def boot_outcome(self) -> Outcome | None:
        text = self.root.read_text(BOOT_NOTE)
        if text is None:
            return None
        try:
            note = BootNote.model_validate_json(text)
        except ValidationError:
            return None
        return note.outcome if note.boot_id == self.boot_id else None

    def note_boot(self, outcome: Outcome) -> None:
        note = BootNote(boot_id=self.boot_id, outcome=outcome)
        try:
            self.root.makedirs(BOOT_NOTE.parent, 0o755)
            self.root.write_atomic(BOOT_NOTE, note.model_dump_json() + "\n", mode=0o644)
        except OSError as exc:
            log.warning("cannot write %s: %s", BOOT_NOTE, exc.strerror or exc)
