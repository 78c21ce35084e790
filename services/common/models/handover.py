"""What wire hands extd with a goal state (`ProcessGoalState`, and `GetHandover` on extd's resume).

Everything extd needs before it starts work, in one message: the extensions goal state, the
endpoint and SharedConfig for the classic Lib.Dir files, and the tenant certificates with their
private keys. Only wire sends it, only to extd, on the system bus (which no other user can
eavesdrop on); nobody logs it.
"""

from __future__ import annotations

from .base import FrozenModel
from .extensions import ExtensionsGoalState
from .goal_state import Certificate


class Handover(FrozenModel):
    extensions: ExtensionsGoalState
    endpoint: str
    shared_config: str = ""
    certificates: tuple[Certificate, ...] = ()

    @property
    def goal_state_id(self) -> str:
        """What extd records on disk before it acknowledges (and resumes after a crash)."""
        return self.extensions.id

    def __repr__(self) -> str:
        # Never the keys, not even in a traceback.
        return f"Handover(goal_state_id={self.goal_state_id!r}, endpoint={self.endpoint!r})"
