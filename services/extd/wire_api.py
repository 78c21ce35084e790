"""What extd needs from wire (org.waagent.Wire1), as a small protocol.

The service gets the D-Bus implementation (`bus.WireClient`); tests of the logic may give
another one. extd never opens a network socket: everything from the fabric comes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from ..common.models.events import TelemetryBatch
from ..common.models.extensions import ExtensionsGoalState
from ..common.models.goal_state import Certificate, GoalStateSummary
from ..common.models.status import ExtensionsStatus

DownloadKind = Literal["manifest", "package", "artifacts-profile"]


class WireApi(Protocol):
    async def extensions_goal_state(self) -> ExtensionsGoalState | None: ...

    async def goal_state(self) -> GoalStateSummary | None: ...

    async def download(self, uris: Sequence[str], kind: DownloadKind) -> int:
        """A read-only file descriptor of the verified download; the caller closes it."""
        ...

    async def upload_status(self, status: ExtensionsStatus) -> None: ...

    async def certificates(self) -> list[Certificate]: ...

    async def shared_config(self) -> str: ...

    async def send_events(self, batch: TelemetryBatch) -> None: ...
