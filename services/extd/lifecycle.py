"""Handler operations in the classic order (reference §9.8): install, enable, disable, uninstall
and the update sequence, with the classic environment (§9.9), states and messages.

`Lifecycle.run(item)` handles one plan item and never raises for a handler's own failure: it is
recorded (handler status, and an error status for the extension when it wrote none) and the
caller goes on with the next item. State files are written after each step, so a restart in the
middle redoes only what was not finished.

The steps themselves are in `handler_steps`, the update sequence in `handler_update`, getting a
version onto disk in `handler_download`, the operations by hand in `manual_operations`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.clients.wire import WireApi
from .command_spec import SliceLimits
from .commands import HandlerCommands
from .errors import Code, ExtensionError
from .handler_download import HandlerDownloads
from .handler_manifest import load_handler_manifest
from .handler_steps import HandlerSteps
from .handler_update import update_handler
from .layout import HandlerLayout, Layouts
from .manifest import select_package
from .manual_operations import ManualOperations
from .operations import NOT_RUN, Operations, Timeouts
from .package import Limits
from .plan import HandlerPlan, PlanItem
from .records import Records
from .state import ExtensionFailure
from .telemetry import Telemetry

log = logging.getLogger(__name__)

CONFIG_ERROR = (
    "Ran into config errors: {}. \nPlease retry again as another operation with updated settings"
)


@dataclass(frozen=True)
class LifecycleSettings:
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: SliceLimits = field(default_factory=SliceLimits)
    package_limits: Limits = field(default_factory=Limits)


class Lifecycle:
    def __init__(
        self,
        layouts: Layouts,
        records: Records,
        wire: WireApi,
        commands: HandlerCommands,
        telemetry: Telemetry,
        *,
        settings: LifecycleSettings = LifecycleSettings(),
        endpoint: Callable[[], str] = lambda: "",
    ) -> None:
        self.layouts = layouts
        self.records = records
        self.wire = wire
        self.commands = commands
        self.telemetry = telemetry
        self.settings = settings
        self.operations = Operations(
            commands, telemetry, settings.timeouts, settings.limits, endpoint=endpoint
        )
        self.steps = HandlerSteps(layouts, records, self.operations)
        self.downloads = HandlerDownloads(wire, telemetry, settings.package_limits)
        self.by_hand = ManualOperations(layouts, records, self.steps)

    def new_goal_state(self) -> None:
        self.downloads.new_goal_state()

    # ---- one item ---------------------------------------------------------------------------

    async def run(self, item: PlanItem) -> bool:
        """Handle one item; False when it failed (the failure is recorded)."""
        handler = item.handler
        try:
            _check_config(handler)
            if handler.state == "enabled":
                await self._handle_enable(item)
            elif handler.state == "disabled":
                await self._handle_disable(handler)
            else:
                await self._handle_uninstall(handler)
        except ExtensionError as exc:
            log.error("%s: %s", item.label, exc.text.splitlines()[0] if exc.text else exc)
            self.report_failure(item, exc)
            return False
        except OSError as exc:
            message = f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
            log.error("%s: %s", item.label, message)
            self.report_failure(item, ExtensionError(Code.UNKNOWN_FAILURE, message))
            return False
        return True

    def report_failure(
        self, item: PlanItem, error: ExtensionError, *, forced: bool = False
    ) -> None:
        handler = item.handler
        operation = error.operation or "ExtensionProcessing"
        self.records.set_status(
            handler.name, "NotReady", error.code, error.text, last_operation=operation
        )
        targets = [item.extension] if item.extension else []
        if handler.error is not None:
            targets = list(handler.extensions)  # every settings object of a refused handler
        for extension in targets:
            if extension is not None and (extension.state == "enabled" or forced):
                self.records.fail_extension(
                    handler.name,
                    extension.name,
                    ExtensionFailure(
                        seq_no=extension.seq_no,
                        code=error.code,
                        message=error.text,
                        operation=operation,
                        forced=forced,
                    ),
                )

    # ---- enabled ----------------------------------------------------------------------------

    async def _handle_enable(self, item: PlanItem) -> None:
        handler = item.handler
        packages = await self.downloads.packages(handler)
        selected = select_package(packages, handler.version)
        if selected is None:
            raise ExtensionError(
                Code.MANIFEST_DOWNLOAD_ERROR,
                f"Unable to find version {handler.version} in manifest for extension "
                f"{handler.name}",
                operation="Download",
            )
        target = self.layouts.of(handler.name, selected.version.text)
        old = self.layouts.installed(handler.name)
        if old is not None and old.version == target.version:
            old = None
        self.records.update(handler.name, version=target.version)
        uninstall_code = NOT_RUN
        if target.read_state() in ("NotInstalled", "FailedUpgrade"):
            if target.exists() and self.commands.launched_under(target.dir):
                # An earlier extd stopped in the middle of this: what runs (or ran) from the
                # directory must find it as it left it.
                log.info("%s: continuing where an earlier extd stopped", handler.name)
            else:
                await self.downloads.download(handler, selected, target)
            manifest = self.downloads.manifest(target, handler)
            target.write_state("NotInstalled")
            self._write_settings(target, handler)
            if old is None:
                unit = self.steps.unit(handler, item.extension)
                await self.steps.install(target, manifest, handler.name, unit, NOT_RUN)
            else:
                uninstall_code = await update_handler(
                    self.steps, old, target, manifest, handler, item.extension
                )
        else:
            manifest = self.downloads.manifest(target, handler)
            target.write_environment()
            self._write_settings(target, handler)
        extension = item.extension
        if extension is None or extension.state == "enabled":
            unit = self.steps.unit(handler, extension)
            await self.steps.enable(target, manifest, handler.name, unit, uninstall_code)
        else:
            await self.steps.disable_for_good(target, manifest, handler, extension)

    def _write_settings(self, target: HandlerLayout, handler: HandlerPlan) -> None:
        if not handler.extensions:
            target.write_settings(None, handler.multi_config)
        for extension in handler.extensions:
            target.write_settings(extension, handler.multi_config)

    # ---- disabled (deprecated) and uninstall ------------------------------------------------

    async def _handle_disable(self, handler: HandlerPlan) -> None:
        installed = self.layouts.installed(handler.name)
        if installed is None:
            log.warning("%s: disable requested, but it is not installed", handler.name)
            return
        self.records.update(handler.name, version=installed.version)
        if installed.read_state() == "Enabled":
            manifest = load_handler_manifest(installed.dir)
            self._write_settings(installed, handler)
            await self.steps.disable_all(installed, manifest, handler.multi_config)
        self.records.set_status(
            handler.name, "NotReady", 0, "Plugin disabled", last_operation="Disable"
        )

    async def _handle_uninstall(self, handler: HandlerPlan) -> None:
        await self.uninstall(handler.name, handler.multi_config)

    # ---- what the D-Bus methods and service.py call -----------------------------------------

    async def uninstall(self, name: str, multi_config: bool) -> None:
        await self.steps.uninstall(name, multi_config)

    async def enable_installed(self, name: str, extension: str | None) -> None:
        await self.by_hand.enable(name, extension)

    async def disable_installed(self, name: str, extension: str | None) -> None:
        await self.by_hand.disable(name, extension)


def _check_config(handler: HandlerPlan) -> None:
    if handler.error is not None:
        raise ExtensionError(
            Code.UNKNOWN_FAILURE,
            CONFIG_ERROR.format(handler.error),
            operation="InvalidExtensionConfig",
        )
