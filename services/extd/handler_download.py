"""Getting a handler's version onto disk (reference §9.4, §9.5): its manifest (fetched at most
once per goal state), its package (downloaded through wire, unpacked all or nothing) and the
HandlerManifest.json inside."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Literal

from ..common.clients.wire import WireApi
from .errors import Code, ExtensionError
from .handler_manifest import HandlerManifest, load_handler_manifest
from .layout import HandlerLayout
from .manifest import Package, parse_manifest
from .package import Limits, remove_tree, unpack
from .plan import HandlerPlan
from .telemetry import Telemetry


class HandlerDownloads:
    def __init__(self, wire: WireApi, telemetry: Telemetry, limits: Limits) -> None:
        self.wire = wire
        self.telemetry = telemetry
        self.limits = limits
        self._manifests: dict[str, list[Package]] = {}

    def new_goal_state(self) -> None:
        self._manifests = {}

    async def packages(self, handler: HandlerPlan) -> list[Package]:
        """The handler's manifest, fetched at most once per goal state."""
        cached = self._manifests.get(handler.key)
        if cached is not None:
            return cached
        if not handler.manifest_uris:
            raise ExtensionError(
                Code.MANIFEST_DOWNLOAD_ERROR,
                f"no manifest location for extension {handler.name}",
                operation="Download",
            )
        data = await self._fetch(list(handler.manifest_uris), "manifest", handler.name)
        packages = parse_manifest(data)
        self._manifests[handler.key] = packages
        return packages

    async def _fetch(self, uris: list[str], kind: Literal["manifest"], name: str) -> bytes:
        try:
            fd = await self.wire.download(uris, kind)
        except Exception as exc:
            raise ExtensionError(
                Code.MANIFEST_DOWNLOAD_ERROR,
                f"Failed to download the {kind} of {name}: {exc}",
                operation="Download",
            ) from None
        with os.fdopen(fd, "rb") as file:
            return file.read()

    async def download(self, handler: HandlerPlan, package: Package, target: HandlerLayout) -> None:
        """Download, unpack (all or nothing) and set up a fresh handler directory (§9.4, §9.5)."""
        started = time.monotonic()
        try:
            fd = await self.wire.download(list(package.uris), "package")
        except Exception as exc:
            raise ExtensionError(
                Code.MANIFEST_DOWNLOAD_ERROR,
                f"Failed to download the package of {handler.name} {package.version}: {exc}",
                operation="Download",
            ) from None
        try:
            with os.fdopen(fd, "rb") as file:
                await asyncio.to_thread(unpack, file, target.dir, self.limits)
            target.initialize()
        except ExtensionError as exc:
            exc.operation = "Download"
            raise
        self.telemetry.operation(
            handler.name,
            target.version,
            "Download",
            True,
            "Download succeeded",
            time.monotonic() - started,
        )

    @staticmethod
    def manifest(target: HandlerLayout, handler: HandlerPlan) -> HandlerManifest:
        """The downloaded version's HandlerManifest.json, checked against the goal state."""
        try:
            manifest = load_handler_manifest(target.dir)
        except ExtensionError as exc:
            exc.operation = "Download"
            if target.read_state() == "NotInstalled":
                remove_tree(target.dir)  # nothing worth keeping
            raise
        if handler.multi_config and not manifest.supports_multiple_extensions:
            raise ExtensionError(
                Code.UNKNOWN_FAILURE,
                f"Handler {handler.name} does not support MultiConfig but CRP expects it, "
                "failing due to inconsistent data",
                operation="InvalidExtensionConfig",
            )
        return manifest
