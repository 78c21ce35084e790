"""The steps that move an installed handler from one state to another (reference §9.8): install,
enable, disable (of the handler, of each extension, or of one for good) and uninstall, each
followed by the handler's state file and its record, so a restart redoes only what is unfinished.
"""

from __future__ import annotations

import logging

from .errors import ExtensionError
from .handler_manifest import HandlerManifest, load_handler_manifest
from .layout import HandlerLayout, Layouts
from .operations import Operations, Unit, latest_seq
from .package import remove_tree
from .plan import ExtensionSettings, HandlerPlan
from .records import Records

log = logging.getLogger(__name__)


class HandlerSteps:
    def __init__(self, layouts: Layouts, records: Records, operations: Operations) -> None:
        self.layouts = layouts
        self.records = records
        self.operations = operations

    @staticmethod
    def unit(handler: HandlerPlan, extension: ExtensionSettings | None) -> Unit:
        if extension is None:
            return Unit()
        return Unit(extension.seq_no, extension.name if handler.multi_config else None)

    async def install(
        self,
        target: HandlerLayout,
        manifest: HandlerManifest,
        name: str,
        unit: Unit,
        uninstall_code: str,
    ) -> None:
        extra = {"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE": uninstall_code}
        await self.operations.run(target, manifest, "install", unit, extra)
        target.write_state("Installed")
        self.records.set_status(
            name, "NotReady", 0, "Plugin installed but not enabled", last_operation="Install"
        )

    async def enable(
        self,
        target: HandlerLayout,
        manifest: HandlerManifest,
        name: str,
        unit: Unit,
        uninstall_code: str,
    ) -> None:
        """Enable with `AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE` (an update's, or NOT_RUN)."""
        extra = {"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE": uninstall_code}
        await self.operations.run(target, manifest, "enable", unit, extra)
        if unit.extension is not None:
            target.write_extension_state(unit.extension, "enabled")
        target.write_state("Enabled")
        self.records.set_status(name, "Ready", 0, "Plugin enabled", last_operation="Enable")
        # A single-config handler's settings carry its own name.
        self.records.clear_failure(name, unit.extension or name)

    async def disable_for_good(
        self,
        target: HandlerLayout,
        manifest: HandlerManifest,
        handler: HandlerPlan,
        extension: ExtensionSettings,
    ) -> None:
        """A multi-config extension the goal state disables: disable it (errors ignored) and
        remove its files; the handler is disabled once none of its extensions is enabled."""
        if target.read_extension_state(extension.name) == "enabled":
            try:
                await self.operations.run(
                    target, manifest, "disable", self.unit(handler, extension)
                )
            except ExtensionError as exc:
                log.warning(
                    "%s/%s: disable failed (ignored): %s", handler.name, extension.name, exc
                )
        target.remove_extension_files(extension.name)
        self.records.clear_failure(handler.name, extension.name)
        if not self.enabled_extensions(target) and target.read_state() == "Enabled":
            target.write_state("Installed")
            self.records.set_status(
                handler.name, "NotReady", 0, "Plugin disabled", last_operation="Disable"
            )

    @staticmethod
    def enabled_extensions(layout: HandlerLayout) -> list[str]:
        return sorted(
            path.name.removesuffix(".HandlerState")
            for path in layout.config_dir.glob("*.HandlerState")
            if path.name != "HandlerState" and path.read_text().strip() == "enabled"
        )

    async def disable_all(
        self,
        layout: HandlerLayout,
        manifest: HandlerManifest,
        multi_config: bool,
        *,
        tolerate: bool = False,
    ) -> dict[str | None, str]:
        """Disable the handler (or each enabled extension): exit codes by extension name.
        A failure raises, unless `tolerate`, which records its exit code and goes on."""
        codes: dict[str | None, str] = {}
        units = (
            [Unit(latest_seq(layout, e), e) for e in self.enabled_extensions(layout)]
            if multi_config
            else [Unit(latest_seq(layout))]
        )
        for unit in units:
            try:
                await self.operations.run(layout, manifest, "disable", unit)
                codes[unit.extension] = "0"
            except ExtensionError as exc:
                if not tolerate:
                    raise
                codes[unit.extension] = exit_code_text(exc)
            if unit.extension is not None:
                layout.write_extension_state(unit.extension, "disabled")
        layout.write_state("Installed")
        return codes

    async def uninstall(self, name: str, multi_config: bool) -> None:
        """Disable if enabled, uninstall (failures only logged, as classic), remove the handler."""
        on_disk = self.layouts.on_disk(name)
        if not on_disk:
            self.records.remove(name)
            return
        layout = self.layouts.installed(name) or on_disk[-1]
        if layout.read_state() != "NotInstalled":
            try:
                manifest = load_handler_manifest(layout.dir)
                if layout.read_state() == "Enabled":
                    await self.disable_all(layout, manifest, multi_config)
                await self.operations.run(layout, manifest, "uninstall", Unit(latest_seq(layout)))
            except ExtensionError as exc:
                log.warning("%s: uninstall failed (the handler is removed anyway): %s", name, exc)
        for each in on_disk:
            remove_tree(each.dir)
        self.records.remove(name)
        log.info("%s: uninstalled and removed", name)


def exit_code_text(error: ExtensionError) -> str:
    return str(error.exit_code) if error.exit_code is not None else str(error.code)
