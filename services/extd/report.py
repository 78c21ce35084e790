"""What is reported for each handler (reference §9.11): records + the files on disk -> entries.

An entry is one handlerAggregateStatus element: a handler, or one extension of it. The same
entries feed the status upload and the D-Bus objects, so both always say the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..common.models.status import ExtensionsStatus, ExtensionStatusDetail
from .aggregate_status import Entry, handler_status, to_report
from .errors import ExtensionError
from .handler_manifest import HandlerManifest, load_handler_manifest
from .heartbeat import read_heartbeat
from .layout import NOT_INSTALLED, HandlerLayout, Layouts
from .state import ExtdState, ExtensionRef, HandlerRecord
from .status import StatusReader, failure_detail, missing


class Reporter:
    def __init__(
        self,
        layouts: Layouts,
        reader: StatusReader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.layouts = layouts
        self.reader = reader or StatusReader(clock)
        self.clock = clock
        self._manifests: dict[Path, tuple[int, HandlerManifest | None]] = {}

    def manifest(self, layout: HandlerLayout) -> HandlerManifest | None:
        """The handler's manifest, read again only when it changed."""
        path = layout.dir / "HandlerManifest.json"
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._manifests.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            manifest: HandlerManifest | None = load_handler_manifest(layout.dir)
        except ExtensionError:
            manifest = None
        self._manifests[path] = (stamp, manifest)
        return manifest

    def _detail(
        self, record: HandlerRecord, ref: ExtensionRef, layout: HandlerLayout, installed: bool
    ) -> ExtensionStatusDetail | None:
        failure = record.failures.get(ref.name)
        if failure is not None and failure.seq_no != ref.seq_no:
            failure = None
        if failure is not None and failure.forced:
            return failure_detail(ref.name, failure)
        path = layout.status_file(ref.seq_no, ref.name if record.multi_config else None)
        found = self.reader.read(path, ref.name) if installed else missing(ref.name, path)
        if failure is not None and (found is None or found.status == "transitioning"):
            return failure_detail(ref.name, failure)
        return found

    def entries_of(self, record: HandlerRecord) -> list[Entry]:
        layout = self.layouts.of(record.name, record.version)
        installed = layout.exists()
        state = layout.read_state() if installed else NOT_INSTALLED
        heartbeat = None
        manifest = self.manifest(layout) if installed and state != NOT_INSTALLED else None
        if manifest is not None and manifest.report_heartbeat:
            heartbeat = read_heartbeat(layout.heartbeat_file, self.clock())
        status = handler_status(record, heartbeat)
        entries: list[Entry] = []
        if state != NOT_INSTALLED or record.multi_config or record.disallowed:
            for ref in record.extensions:
                if record.multi_config and ref.state == "disabled":
                    actual = layout.read_extension_state(ref.name) if installed else None
                    if actual in (None, "disabled"):
                        continue  # requested and actual state disabled: not reported
                found = self._detail(record, ref, layout, installed and state != NOT_INSTALLED)
                if found is not None:
                    actual = layout.read_extension_state(ref.name) if installed else None
                    entries.append(Entry(record, ref, state, status, found, actual))
        return entries or [Entry(record, None, state, status, None)]

    def entries(self, state: ExtdState) -> list[Entry]:
        found: list[Entry] = []
        for record in state.handlers.values():
            if record.requested_state == "uninstall" and not self.layouts.on_disk(record.name):
                continue  # nothing is reported for an uninstalled handler
            found.extend(self.entries_of(record))
        return found

    def report(self, state: ExtdState) -> tuple[ExtensionsStatus, list[Entry]]:
        entries = self.entries(state)
        return to_report(entries, state), entries
