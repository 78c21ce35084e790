"""Operations by hand (the D-Bus methods EnableExtension, DisableExtension): enable or disable
an installed handler again, with the settings of the last goal state."""

from __future__ import annotations

from collections.abc import Awaitable

from ..common.errors import NotSupported
from .errors import ExtensionError
from .handler_manifest import HandlerManifest, load_handler_manifest
from .handler_steps import HandlerSteps
from .layout import HandlerLayout, Layouts
from .operations import NOT_RUN, Unit
from .records import Records


class ManualOperations:
    def __init__(self, layouts: Layouts, records: Records, steps: HandlerSteps) -> None:
        self.layouts = layouts
        self.records = records
        self.steps = steps

    def _installed(self, name: str) -> tuple[HandlerLayout, HandlerManifest]:
        record = self.records.get(name)
        layout = self.layouts.of(name, record.version) if record else None
        if layout is None or layout.read_state() in ("NotInstalled", "FailedUpgrade"):
            raise NotSupported(f"{name} is not installed")
        return layout, load_handler_manifest(layout.dir)

    def _unit(self, name: str, extension: str | None) -> Unit:
        record = self.records.get(name)
        refs = record.extensions if record else ()
        ref = next((r for r in refs if r.name == extension), None) if extension else None
        if ref is None and extension is None and refs:
            ref = refs[0]
        return Unit(ref.seq_no if ref else 0, extension)

    async def _recording_failure(self, name: str, operation: str, work: Awaitable[object]) -> None:
        try:
            await work
        except ExtensionError as exc:
            self.records.set_status(name, "NotReady", exc.code, exc.text, last_operation=operation)
            raise

    async def enable(self, name: str, extension: str | None) -> None:
        """Run enable again with the settings of the last goal state."""
        layout, manifest = self._installed(name)
        unit = self._unit(name, extension)
        await self._recording_failure(
            name, "Enable", self.steps.enable(layout, manifest, name, unit, NOT_RUN)
        )

    async def disable(self, name: str, extension: str | None) -> None:
        """Disable the handler (or one extension of a multi-config handler)."""
        layout, manifest = self._installed(name)
        if extension is not None:
            unit = self._unit(name, extension)
            await self._recording_failure(
                name, "Disable", self.steps.operations.run(layout, manifest, "disable", unit)
            )
            layout.write_extension_state(extension, "disabled")
            if self.steps.enabled_extensions(layout):
                return
            layout.write_state("Installed")
        elif layout.read_state() == "Enabled":
            disabling = self.steps.disable_all(layout, manifest, multi_config=False)
            await self._recording_failure(name, "Disable", disabling)
        self.records.set_status(name, "NotReady", 0, "Plugin disabled", last_operation="Disable")
