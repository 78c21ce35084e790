"""The classic on-disk layout of a handler (reference §9.6, §9.7): a public contract.

    <Lib.Dir>/<Publisher.Type>-<Version>/
        HandlerManifest.json  HandlerEnvironment.json  heartbeat.log  mrseq
        config/<seq>.settings | config/<Ext>.<seq>.settings
        config/HandlerState  config/<Ext>.HandlerState  config/HandlerStatus
        status/<seq>.status | status/<Ext>.<seq>.status
    <Extension.LogDir>/<Publisher.Type>/
        CommandExecution.log | CommandExecution_<Ext>.log    events/

Every file the agent writes here is written atomically: a crash leaves the old or the new
content, and the state files are what a restarted extd trusts. Paths handed to extensions
(HandlerEnvironment.json) are host paths, so a sandbox root keeps extensions inside it too.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..common.root import Root, write_file_atomic
from .plan import ExtensionSettings
from .versions import Version

log = logging.getLogger(__name__)

HandlerStateName = Literal["NotInstalled", "Installed", "Enabled", "FailedUpgrade"]
HANDLER_STATES: tuple[HandlerStateName, ...] = (
    "NotInstalled",
    "Installed",
    "Enabled",
    "FailedUpgrade",
)
NOT_INSTALLED: HandlerStateName = "NotInstalled"


@dataclass(frozen=True)
class HandlerStatusFile:
    """config/HandlerStatus: the agent's view of the handler (compact JSON, classic keys)."""

    name: str
    version: str
    status: str = "NotReady"
    code: int = 0
    message: str | None = None
    supports_multi_config: bool = False
    extension_status: None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HandlerStatusFile | None:
        try:
            data = json.loads(text)
            return cls(
                name=str(data["name"]),
                version=str(data["version"]),
                status=str(data.get("status", "NotReady")),
                code=int(data.get("code", 0)),
                message=data.get("message"),
                supports_multi_config=bool(data.get("supports_multi_config", False)),
            )
        except (ValueError, KeyError, TypeError):
            return None


def split_dir_name(name: str) -> tuple[str, Version] | None:
    """`Publisher.Type-1.2.3` -> (`Publisher.Type`, 1.2.3); None for anything else."""
    handler, sep, version = name.rpartition("-")
    parsed = Version.parse(version) if sep else None
    if not handler or parsed is None:
        return None
    return handler, parsed


class HandlerLayout:
    """The files of one handler version. `lib_dir` and `log_dir` are host paths, already
    resolved inside the root (Layouts does it once); names were checked by the plan."""

    def __init__(self, lib_dir: Path, log_dir: Path, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self.dir = lib_dir / f"{name}-{version}"
        self.log_dir = log_dir / name

    # ---- paths (host paths: what this process and the extension open) ----

    @property
    def config_dir(self) -> Path:
        return self.dir / "config"

    @property
    def status_dir(self) -> Path:
        return self.dir / "status"

    @property
    def heartbeat_file(self) -> Path:
        return self.dir / "heartbeat.log"

    @property
    def events_dir(self) -> Path:
        return self.log_dir / "events"

    def settings_file(self, seq_no: int, extension: str | None = None) -> Path:
        prefix = f"{extension}." if extension else ""
        return self.config_dir / f"{prefix}{seq_no}.settings"

    def status_file(self, seq_no: int, extension: str | None = None) -> Path:
        prefix = f"{extension}." if extension else ""
        return self.status_dir / f"{prefix}{seq_no}.status"

    def command_log(self, extension: str | None = None) -> Path:
        name = f"CommandExecution_{extension}.log" if extension else "CommandExecution.log"
        return self.log_dir / name

    def exists(self) -> bool:
        return self.dir.is_dir()

    # ---- state files ----

    @staticmethod
    def _write(path: Path, content: str, mode: int = 0o644) -> None:
        write_file_atomic(path, content, mode=mode)

    def read_state(self) -> HandlerStateName:
        try:
            text = (self.config_dir / "HandlerState").read_text().strip()
        except OSError:
            return NOT_INSTALLED
        return next((s for s in HANDLER_STATES if s == text), NOT_INSTALLED)

    def write_state(self, state: HandlerStateName) -> None:
        self._write(self.config_dir / "HandlerState", state)

    def read_extension_state(self, extension: str) -> str | None:
        try:
            return (self.config_dir / f"{extension}.HandlerState").read_text().strip() or None
        except OSError:
            return None

    def write_extension_state(self, extension: str, state: Literal["enabled", "disabled"]) -> None:
        self._write(self.config_dir / f"{extension}.HandlerState", state)

    def write_handler_status(self, status: HandlerStatusFile) -> None:
        if self.config_dir.is_dir():
            self._write(self.config_dir / "HandlerStatus", status.to_json())

    # ---- set-up of a fresh handler (§9.5) ----

    def environment(self) -> list[dict[str, Any]]:
        return [
            {
                "name": self.name,
                "version": 1.0,
                "handlerEnvironment": {
                    "logFolder": str(self.log_dir),
                    "configFolder": str(self.config_dir),
                    "statusFolder": str(self.status_dir),
                    "heartbeatFile": str(self.heartbeat_file),
                    "eventsFolder": str(self.events_dir),
                    "eventsFolder_preview": str(self.events_dir),
                },
            }
        ]

    def initialize(self) -> None:
        """status/ and config/ (0700), the log and events folders, HandlerEnvironment.json."""
        for directory in (self.config_dir, self.status_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        self.log_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.events_dir.mkdir(mode=0o700, exist_ok=True)
        self.write_environment()

    def write_environment(self) -> None:
        self._write(self.dir / "HandlerEnvironment.json", json.dumps(self.environment()))

    # ---- settings (§9.7) ----

    def write_settings(self, settings: ExtensionSettings | None, multi_config: bool) -> Path:
        """The settings file of this seqNo; `0.settings` (empty) for a handler without any."""
        if settings is None:
            path = self.settings_file(0)
            if not path.exists():
                self._write(path, "", mode=0o600)
            return path
        path = self.settings_file(settings.seq_no, settings.name if multi_config else None)
        document = {"runtimeSettings": [{"handlerSettings": settings.handler_settings()}]}
        self._write(path, json.dumps(document), mode=0o600)
        return path

    def remove_extension_files(self, extension: str) -> None:
        """A multi-config extension that was disabled for good: its settings, status, state."""
        doomed = [
            *self.config_dir.glob(f"{extension}.*.settings"),
            *self.status_dir.glob(f"{extension}.*.status"),
            self.config_dir / f"{extension}.HandlerState",
        ]
        for path in doomed:
            path.unlink(missing_ok=True)

    # ---- update (§9.8 step 3) ----

    def take_over_from(self, old: HandlerLayout) -> None:
        """Carry `mrseq` and the status files of the previous version into this one."""
        mrseq = old.dir / "mrseq"
        if mrseq.is_file():
            self._write(self.dir / "mrseq", mrseq.read_text(errors="replace"))
        if old.status_dir.is_dir():
            self.status_dir.mkdir(mode=0o700, exist_ok=True)
            for status in old.status_dir.iterdir():
                if status.is_file() and not status.is_symlink():
                    shutil.copy2(status, self.status_dir / status.name)


class Layouts:
    """Where handlers live: Lib.Dir and Extension.LogDir inside a root (resolved once)."""

    def __init__(self, root: Root, lib_dir: str, log_dir: str) -> None:
        self.root = root
        self.lib_dir = lib_dir
        self.lib_path = root.resolve(lib_dir)
        self.log_path = root.resolve(log_dir)
        self._known: dict[tuple[str, str], HandlerLayout] = {}

    def of(self, name: str, version: str) -> HandlerLayout:
        key = (name, version)
        if key not in self._known:
            self._known[key] = HandlerLayout(self.lib_path, self.log_path, name, version)
        return self._known[key]

    def versions(self, name: str) -> list[Version]:
        """Versions of `name` with a directory in Lib.Dir, ascending."""
        if not self.lib_path.is_dir():
            return []
        found = []
        for entry in os.scandir(self.lib_path):
            parsed = split_dir_name(entry.name)
            if parsed and parsed[0] == name and entry.is_dir(follow_symlinks=False):
                found.append(parsed[1])
        return sorted(found)

    def installed(self, name: str) -> HandlerLayout | None:
        """The highest version whose HandlerState says it is installed (classic rule, §9.3)."""
        for version in reversed(self.versions(name)):
            layout = self.of(name, version.text)
            if layout.read_state() not in (NOT_INSTALLED, "FailedUpgrade"):
                return layout
        return None

    def on_disk(self, name: str) -> list[HandlerLayout]:
        return [self.of(name, v.text) for v in self.versions(name)]
