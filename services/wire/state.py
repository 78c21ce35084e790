"""What wire knows and keeps: the observable state, and the last good goal state on disk.

Wire's own files live in its state directory (`/var/lib/waagent-wire`, owned by the
unprivileged `waagent-wire` user), with the classic file names. The last good goal state is kept
there, so a restarted wire answers at once and nothing is lost when the fabric is away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ..common.models.base import FrozenModel
from ..common.models.extensions import ExtensionsGoalState
from ..common.models.goal_state import GoalStateSummary
from ..common.models.status import ExtensionsStatus
from ..common.root import Root
from .files import STATE_DIR

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

PROTOCOL_FILE = "Protocol"
ENDPOINT_FILE = "WireServerEndpoint"
CACHE_FILE = "goal_state.json"
EXTENSIONS_STATUS_FILE = "extensions_status.json"

# Values of the State property.
STARTING = "Starting"
READY = "Ready"
FABRIC_UNAVAILABLE = "FabricUnavailable"
GOAL_STATE_ERROR = "GoalStateError"


@dataclass
class Observable:
    """The values of the Wire1 properties."""

    endpoint: str = ""
    incarnation: str = ""
    container_id: str = ""
    role_instance_id: str = ""
    last_contact: int = 0  # microseconds since the epoch, UTC
    state: str = STARTING
    last_error: str = ""
    extensions_channel: str = ""  # WireServer (ExtensionsConfig) or HostGAPlugin (Fast Track)
    fast_track: str = ""  # fast_track.Support

    def update(self, **values: object) -> bool:
        """Set the values; whether any of them changed."""
        changed = False
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        return changed


CACHE_VERSION = 2  # 2: settings parsed (a cache of the text form is refetched, not misread)


class GoalStateCache(FrozenModel):
    """The last goal state wire fetched completely (written atomically after each one)."""

    version: Literal[2]
    summary: GoalStateSummary
    extensions: ExtensionsGoalState


class StateFiles:
    def __init__(self, root: Root, directory: PurePosixPath = STATE_DIR) -> None:
        self.root = root
        self.directory = directory

    def path(self, name: str) -> PurePosixPath:
        return self.directory / name

    def prepare(self) -> None:
        self.root.makedirs(self.directory, 0o700)
        self.root.makedirs(self.directory / "downloads", 0o700)

    def write(self, name: str, data: bytes | str, mode: int = 0o600) -> None:
        self.root.write_atomic(self.path(name), data, mode=mode)

    def read(self, name: str) -> bytes | None:
        return self.root.read_bytes(self.path(name))

    def clear_protocol(self) -> None:
        for name in (PROTOCOL_FILE, ENDPOINT_FILE):
            self.root.remove(self.path(name))

    def save_protocol(self, endpoint: str) -> None:
        self.write(ENDPOINT_FILE, endpoint, mode=0o644)
        self.write(PROTOCOL_FILE, "WireProtocol", mode=0o644)

    def load_cache(self) -> GoalStateCache | None:
        return self._load(CACHE_FILE, GoalStateCache)

    def save_cache(self, cache: GoalStateCache) -> None:
        self.write(CACHE_FILE, cache.model_dump_json())

    def load_extensions_status(self) -> ExtensionsStatus | None:
        return self._load(EXTENSIONS_STATUS_FILE, ExtensionsStatus)

    def save_extensions_status(self, status: ExtensionsStatus) -> None:
        self.write(EXTENSIONS_STATUS_FILE, status.model_dump_json(by_alias=True))

    def _load(self, name: str, model: type[M]) -> M | None:
        data = self.read(name)
        if data is None:
            return None
        try:
            return model.model_validate_json(data)
        except ValidationError:
            log.warning("ignoring unreadable %s", self.path(name))
            return None
