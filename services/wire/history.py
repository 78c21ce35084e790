"""Goal state history (§2.10): one folder per goal state, at most 50, oldest pruned first.

Support engineers read these (and log bundles carry them off the VM): nothing secret goes in.
Every document passes the log redaction on its way to disk (SAS query strings and signatures),
the caller takes protected settings out of ExtensionsConfig, and certificates appear as a
thumbprint summary only.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import PurePosixPath

from ..common.logs import redact
from ..common.root import Root

log = logging.getLogger(__name__)

LIMIT = 50


class History:
    def __init__(self, root: Root, directory: PurePosixPath, limit: int = LIMIT) -> None:
        self.root = root
        self.directory = directory
        self.limit = limit
        self.current: PurePosixPath | None = None

    def begin(self, incarnation: str, etag: str | None = None) -> PurePosixPath:
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
        name = f"{stamp}__{incarnation}" + (f"-{etag}" if etag else "")
        entry = self.directory / name
        self.root.makedirs(entry, 0o700)
        self.current = entry
        self._prune()
        return entry

    def save(self, name: str, data: bytes | str) -> None:
        if self.current is None:
            return
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        try:
            self.root.write_atomic(self.current / name, redact(text), mode=0o600)
        except OSError as exc:
            log.warning("cannot save %s to the history: %s", name, exc.strerror or exc)

    def _prune(self) -> None:
        base = self.root.resolve(self.directory)
        entries = sorted(base.iterdir(), key=lambda p: p.stat().st_ctime_ns)
        for old in entries[: max(0, len(entries) - self.limit)]:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
