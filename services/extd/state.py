"""What extd remembers between runs: `<Lib.Dir>/extd.json`, written atomically.

The handler directories hold the classic state (HandlerState, HandlerStatus, status files);
this file holds what has no place there: the goal state being processed and whether it was
finished (a restart resumes an unfinished one), its outcome (vmArtifactsAggregateStatus), and
per handler what the status report needs when the handler has no directory (a failed download,
a handler refused by configuration) or when the goal state cannot be asked for again.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, ValidationError

from ..common.models.base import FrozenModel
from ..common.root import Root

log = logging.getLogger(__name__)

FILE_NAME = "extd.json"


class ExtensionRef(FrozenModel):
    """One settings object of the goal state: what its status is looked up by."""

    name: str
    seq_no: int
    state: Literal["enabled", "disabled"] = "enabled"


class ExtensionFailure(FrozenModel):
    """A failure the agent reports for an extension when the extension wrote no status
    (`forced`: reported even over the extension's own status, as for a refused extension)."""

    seq_no: int
    code: int
    message: str
    operation: str
    forced: bool = False


class HandlerRecord(FrozenModel):
    name: str
    version: str
    requested_state: str = "enabled"
    multi_config: bool = False
    extensions: tuple[ExtensionRef, ...] = ()
    status: str = "NotReady"
    code: int = 0
    message: str | None = None
    last_operation: str = ""
    disallowed: bool = False
    failures: dict[str, ExtensionFailure] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name.lower()

    def extension(self, name: str) -> ExtensionRef | None:
        return next((e for e in self.extensions if e.name == name), None)


class GoalStateOutcome(FrozenModel):
    status: Literal["Success", "Failed"]
    code: int = 0
    message: str
    timestamp: str
    svd_seq_no: str


class ExtdState(FrozenModel):
    goal_state_id: str = ""
    completed: bool = True
    # The completed goal state's status reached wire: False from the end of processing to
    # wire's acknowledgement, so the next extd sends it when one was killed in between.
    reported: bool = True
    outcome: GoalStateOutcome | None = None
    handlers: dict[str, HandlerRecord] = Field(default_factory=dict)


class StateStore:
    def __init__(self, root: Root, lib_dir: str) -> None:
        self.root = root
        self.path = PurePosixPath(lib_dir) / FILE_NAME

    def load(self) -> ExtdState:
        text = self.root.read_text(self.path)
        if text is None:
            return ExtdState()
        try:
            return ExtdState.model_validate_json(text)
        except ValidationError as exc:
            log.warning("%s is unreadable (%s); starting afresh", self.path, exc.errors()[0]["msg"])
            return ExtdState()

    def save(self, state: ExtdState) -> None:
        self.root.makedirs(self.path.parent, 0o700)
        self.root.write_atomic(self.path, state.model_dump_json(), mode=0o600)
