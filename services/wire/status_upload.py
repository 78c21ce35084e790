"""The status blob (§5.3): built from extd's extensions status, uploaded through the HostGAPlugin
first and to storage directly when that fails.

A change is uploaded at once; an unchanged status is refreshed every `Extensions.StatusRefresh`
period (the fabric takes a blob that stops moving for a sign the agent is gone).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from .. import AGENT_VERSION
from ..common import features
from ..common.models.extensions import StatusUploadBlob
from ..common.models.status import (
    AggregateStatus,
    ExtensionsStatus,
    GuestAgentStatus,
    SupportedFeature,
    UpdateStatus,
    VMStatus,
)
from ..common.root import Root
from . import osinfo
from .connection import Connection
from .errors import FabricError, InvalidContainer, ResourceGone
from .state import StateFiles

log = logging.getLogger(__name__)


def _utc_stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StatusUploader:
    def __init__(
        self,
        root: Root,
        files: StateFiles,
        connection: Callable[[], Connection],
        *,
        refresh_period: float,
        refresh_container: Callable[[], Awaitable[object]],
        failed: Callable[[Exception], None],
        fast_track: Callable[[], bool] = lambda: False,
        update_status: Callable[[], UpdateStatus | None] = lambda: None,
        host_plugin_outcome: Callable[[bool, str], None] = lambda ok, why: None,
    ) -> None:
        """`update_status`: guestAgentStatus.updateStatus (RSM); `host_plugin_outcome`: each
        upload through HostGAPlugin, for HealthService's GuestAgentPluginStatus."""
        self.root = root
        self.files = files
        self._connection = connection
        self.refresh_period = refresh_period
        self._refresh_container = refresh_container
        self._failed = failed
        self._fast_track = fast_track  # Debug.EnableFastTrack=y and the plugin serves vmSettings
        self._update_status = update_status
        self._host_plugin_outcome = host_plugin_outcome
        self.extensions_status: ExtensionsStatus | None = None
        self.dirty = True  # something in the status changed since the last upload
        self._uploaded_at: float | None = None

    def load(self) -> None:
        self.extensions_status = self.files.load_extensions_status()

    def vm_status(self) -> VMStatus:
        ext = self.extensions_status or ExtensionsStatus()
        return VMStatus(
            timestamp_utc=_utc_stamp(),
            aggregate_status=AggregateStatus(
                guest_agent_status=GuestAgentStatus(
                    version=AGENT_VERSION, update_status=self._update_status()
                ),
                handler_aggregate_status=ext.handler_aggregate_status,
                vm_artifacts_aggregate_status=ext.vm_artifacts_aggregate_status,
            ),
            guest_os_info=osinfo.guest_os_info(self.root),
            supported_features=tuple(
                SupportedFeature(key=key)
                for key in features.announced(fast_track=self._fast_track())
            ),
        )

    def set_extensions_status(self, status: ExtensionsStatus) -> None:
        self.extensions_status = status
        self.files.save_extensions_status(status)
        self.dirty = True

    @property
    def uploaded_at(self) -> float | None:
        """When the status last went through (monotonic), None before the first upload."""
        return self._uploaded_at

    def due(self) -> bool:
        if self.dirty or self._uploaded_at is None:
            return True
        return time.monotonic() - self._uploaded_at >= self.refresh_period

    async def upload(self, blob: StatusUploadBlob | None, *, force: bool = False) -> bool:
        """Upload when due (or `force`, which also raises the failure); True if uploaded."""
        if blob is None or not (force or self.due()):
            return False
        content = json.dumps(self.vm_status().to_json()).encode()
        conn = self._connection()
        try:
            if await conn.hostplugin.ensure_available():
                await conn.hostplugin.put_status(blob, content)
                self._host_plugin_outcome(True, "")
                self._uploaded("HostGAPlugin")
                return True
        except (ResourceGone, InvalidContainer):
            with contextlib.suppress(FabricError):
                await self._refresh_container()
            return False
        except FabricError as exc:
            self._host_plugin_outcome(False, str(exc))
            log.debug("status through HostGAPlugin failed (%s); uploading directly", exc)
        try:
            await conn.storage.put_status(blob, content)
        except FabricError as exc:
            if force:
                raise
            self._failed(FabricError(f"Failed to upload status blob via either channel: {exc}"))
            return False
        self._uploaded("direct")
        return True

    def _uploaded(self, channel: str) -> None:
        if self._uploaded_at is None:
            log.info("status blob uploaded (%s)", channel)
        self._uploaded_at = time.monotonic()
        self.dirty = False
