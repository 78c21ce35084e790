"""org.waagent.Wire1 as the other services call it: one typed client, one Protocol for fakes.

extd and the provisioner depend on `WireApi` (tests give small fakes of the parts they use);
`WireClient` implements it on the bus, bus-activating wire when needed. Errors come back as
`call` maps them (`ServiceUnavailable` when wire is not on the bus).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from dbus_fast.aio import MessageBus
from pydantic import TypeAdapter, ValidationError

from ..bus.client import call
from ..errors import FabricUnavailable, NotSupported
from ..models.download import DownloadKind
from ..models.events import TelemetryBatch
from ..models.goal_state import Certificate
from ..names import WIRE

if TYPE_CHECKING:
    # extd's models: the provisioner uses this client too, at boot on the way to Ready, and
    # never loads them (tests/unit/test_lean.py).
    from ..models.handover import Handover
    from ..models.status import ExtensionsStatus

CERTIFICATES = TypeAdapter(tuple[Certificate, ...])
NO_GOAL_STATE = "{}"  # what wire's getters answer before its first goal state
DOWNLOAD_TIMEOUT = 330.0  # wire's 5-minute download budget, and some
HEALTH_TIMEOUT = 330.0  # wire retries a health report for up to 5 minutes when the fabric is slow
WIRE_TIMEOUT = 60.0


class WireApi(Protocol):
    async def handover(self) -> Handover | None:
        """What extd needs to process wire's current goal state (None before the first)."""
        ...

    async def download(self, uris: Sequence[str], kind: DownloadKind) -> int:
        """A read-only file descriptor of the verified download; the caller closes it."""
        ...

    async def upload_status(self, status: ExtensionsStatus) -> None: ...

    async def send_events(self, batch: TelemetryBatch) -> None: ...

    async def report_health(self, state: str, substatus: str, description: str) -> None: ...

    async def certificates(self) -> list[Certificate]:
        """The tenant certificates with their keys (FabricUnavailable when unreadable)."""
        ...

    async def refresh(self) -> None:
        """Fetch the goal state now (a fresh wire has no certificates until its first fetch)."""
        ...

    async def instance_metadata(self) -> str: ...


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class WireClient:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def _text(self, member: str, timeout: float = WIRE_TIMEOUT) -> str:
        reply = await call(self.bus, WIRE, member, timeout=timeout)
        return str(reply.body[0])

    async def handover(self) -> Handover | None:
        from ..models.handover import Handover

        text = await self._text("GetHandover")
        return None if text.strip() == NO_GOAL_STATE else Handover.model_validate_json(text)

    async def download(self, uris: Sequence[str], kind: DownloadKind) -> int:
        reply = await call(
            self.bus, WIRE, "Download", "ass", [list(uris), kind], timeout=DOWNLOAD_TIMEOUT
        )
        fds = list(reply.unix_fds)
        index = int(reply.body[0])
        if not 0 <= index < len(fds):
            _close_all(fds)
            raise NotSupported("wire answered Download without a file descriptor")
        fd = fds.pop(index)
        _close_all(fds)
        return fd

    async def upload_status(self, status: ExtensionsStatus) -> None:
        await call(self.bus, WIRE, "UploadStatus", "s", [status.model_dump_json(by_alias=True)])

    async def send_events(self, batch: TelemetryBatch) -> None:
        await call(self.bus, WIRE, "SendEvents", "s", [batch.model_dump_json()])

    async def report_health(self, state: str, substatus: str, description: str) -> None:
        await call(
            self.bus,
            WIRE,
            "ReportHealth",
            "sss",
            [state, substatus, description],
            timeout=HEALTH_TIMEOUT,
        )

    async def certificates(self) -> list[Certificate]:
        text = await self._text("GetCertificates")
        try:
            return list(CERTIFICATES.validate_json(text))
        except ValidationError:
            raise FabricUnavailable("wire sent certificates that cannot be read") from None

    async def refresh(self) -> None:
        await call(self.bus, WIRE, "Refresh", timeout=WIRE_TIMEOUT)

    async def instance_metadata(self) -> str:
        return await self._text("GetInstanceMetadata")

    async def shared_config(self) -> str:
        """SharedConfig.xml of the current goal state ("" before the first)."""
        return await self._text("GetSharedConfig")
