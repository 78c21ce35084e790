"""Handler operations in the classic order (reference §9.8): install, enable, disable, uninstall
and the update sequence, with the classic environment (§9.9), states and messages.

`Lifecycle.run(item)` handles one plan item and never raises for a handler's own failure: it is
recorded (handler status, and an error status for the extension when it wrote none) and the
caller goes on with the next item. State files are written after each step, so a restart in the
middle redoes only what was not finished.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from ..common.clients.wire import WireApi
from ..common.errors import NotSupported
from .commands import HandlerCommands, SliceLimits
from .errors import Code, ExtensionError
from .handler_manifest import HandlerManifest, load_handler_manifest
from .layout import HandlerLayout, Layouts
from .manifest import Package, parse_manifest, select_package
from .operations import NOT_RUN, Operations, Timeouts, Unit, latest_seq
from .package import Limits, remove_tree, unpack
from .plan import ExtensionSettings, HandlerPlan, PlanItem
from .records import Records
from .state import ExtensionFailure
from .telemetry import Telemetry
from .versions import Version

log = logging.getLogger(__name__)

CONFIG_ERROR = (
    "Ran into config errors: {}. \nPlease retry again as another operation with updated settings"
)


@dataclass(frozen=True)
class LifecycleSettings:
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: SliceLimits = field(default_factory=SliceLimits)
    package_limits: Limits = field(default_factory=Limits)


@dataclass
class _GoalStateCache:
    manifests: dict[str, list[Package]] = field(default_factory=dict)


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
        self._cache = _GoalStateCache()

    def new_goal_state(self) -> None:
        self._cache = _GoalStateCache()

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
        packages = await self._packages(handler)
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
                await self._download(handler, selected, target)
            manifest = self._manifest(target, handler)
            target.write_state("NotInstalled")
            self._write_settings(target, handler)
            if old is None:
                unit = self._unit(handler, item.extension)
                await self._install(target, manifest, handler.name, unit, NOT_RUN)
            else:
                uninstall_code = await self._update(old, target, manifest, handler, item.extension)
        else:
            manifest = self._manifest(target, handler)
            target.write_environment()
            self._write_settings(target, handler)
        extension = item.extension
        if extension is None or extension.state == "enabled":
            unit = self._unit(handler, extension)
            await self._enable(target, manifest, handler.name, unit, uninstall_code)
        else:
            await self._disable_for_good(target, manifest, handler, extension)

    async def _packages(self, handler: HandlerPlan) -> list[Package]:
        """The handler's manifest, fetched at most once per goal state."""
        cached = self._cache.manifests.get(handler.key)
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
        self._cache.manifests[handler.key] = packages
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

    async def _download(
        self, handler: HandlerPlan, package: Package, target: HandlerLayout
    ) -> None:
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
                await asyncio.to_thread(unpack, file, target.dir, self.settings.package_limits)
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

    def _manifest(self, target: HandlerLayout, handler: HandlerPlan) -> HandlerManifest:
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

    def _write_settings(self, target: HandlerLayout, handler: HandlerPlan) -> None:
        if not handler.extensions:
            target.write_settings(None, handler.multi_config)
        for extension in handler.extensions:
            target.write_settings(extension, handler.multi_config)

    # ---- the operations ---------------------------------------------------------------------

    def _unit(self, handler: HandlerPlan, extension: ExtensionSettings | None) -> Unit:
        if extension is None:
            return Unit()
        return Unit(extension.seq_no, extension.name if handler.multi_config else None)

    async def _install(
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

    async def _enable(
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

    async def _disable_for_good(
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
                    target, manifest, "disable", self._unit(handler, extension)
                )
            except ExtensionError as exc:
                log.warning(
                    "%s/%s: disable failed (ignored): %s", handler.name, extension.name, exc
                )
        target.remove_extension_files(extension.name)
        self.records.clear_failure(handler.name, extension.name)
        if not self._enabled_extensions(target) and target.read_state() == "Enabled":
            target.write_state("Installed")
            self.records.set_status(
                handler.name, "NotReady", 0, "Plugin disabled", last_operation="Disable"
            )

    def _enabled_extensions(self, layout: HandlerLayout) -> list[str]:
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
            [Unit(latest_seq(layout, e), e) for e in self._enabled_extensions(layout)]
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
                codes[unit.extension] = _exit_code(exc)
            if unit.extension is not None:
                layout.write_extension_state(unit.extension, "disabled")
        layout.write_state("Installed")
        return codes

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
            await self.disable_all(installed, manifest, handler.multi_config)
        self.records.set_status(
            handler.name, "NotReady", 0, "Plugin disabled", last_operation="Disable"
        )

    async def _handle_uninstall(self, handler: HandlerPlan) -> None:
        await self.uninstall(handler.name, handler.multi_config)

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

    # ---- by hand (the D-Bus methods) -------------------------------------------------------

    def _installed_for_hand(self, name: str) -> tuple[HandlerLayout, HandlerManifest]:
        record = self.records.get(name)
        layout = self.layouts.of(name, record.version) if record else None
        if layout is None or layout.read_state() in ("NotInstalled", "FailedUpgrade"):
            raise NotSupported(f"{name} is not installed")
        return layout, load_handler_manifest(layout.dir)

    def _unit_for_hand(self, name: str, extension: str | None) -> Unit:
        record = self.records.get(name)
        refs = record.extensions if record else ()
        ref = next((r for r in refs if r.name == extension), None) if extension else None
        if ref is None and extension is None and refs:
            ref = refs[0]
        return Unit(ref.seq_no if ref else 0, extension)

    async def _by_hand(self, name: str, operation: str, work: Awaitable[object]) -> None:
        try:
            await work
        except ExtensionError as exc:
            self.records.set_status(name, "NotReady", exc.code, exc.text, last_operation=operation)
            raise

    async def enable_installed(self, name: str, extension: str | None) -> None:
        """Run enable again with the settings of the last goal state."""
        layout, manifest = self._installed_for_hand(name)
        unit = self._unit_for_hand(name, extension)
        await self._by_hand(name, "Enable", self._enable(layout, manifest, name, unit, NOT_RUN))

    async def disable_installed(self, name: str, extension: str | None) -> None:
        """Disable the handler (or one extension of a multi-config handler)."""
        layout, manifest = self._installed_for_hand(name)
        if extension is not None:
            unit = self._unit_for_hand(name, extension)
            await self._by_hand(
                name, "Disable", self.operations.run(layout, manifest, "disable", unit)
            )
            layout.write_extension_state(extension, "disabled")
            if self._enabled_extensions(layout):
                return
            layout.write_state("Installed")
        elif layout.read_state() == "Enabled":
            await self._by_hand(name, "Disable", self._disable_all_quietly(layout, manifest))
        self.records.set_status(name, "NotReady", 0, "Plugin disabled", last_operation="Disable")

    async def _disable_all_quietly(self, layout: HandlerLayout, manifest: HandlerManifest) -> None:
        await self.disable_all(layout, manifest, multi_config=False)

    # ---- update (§9.8) ----------------------------------------------------------------------

    async def _update(
        self,
        old: HandlerLayout,
        new: HandlerLayout,
        manifest: HandlerManifest,
        handler: HandlerPlan,
        extension: ExtensionSettings | None,
    ) -> str:
        """Move from `old` to `new`; returns the old uninstall exit code (for install, enable).

        A failing disable or uninstall of the old version stops the update (1008) unless the
        new manifest says continueOnUpdateFailure; a failing update command always does, and
        leaves the new version FailedUpgrade (the old one stays, so the next goal state retries).
        """
        old_manifest = load_handler_manifest(old.dir)
        keep_going = manifest.continue_on_update_failure
        disable_codes: dict[str | None, str] = {}
        if old.read_state() == "Enabled":
            try:
                disable_codes = await self.disable_all(
                    old, old_manifest, handler.multi_config, tolerate=keep_going
                )
            except ExtensionError as exc:
                raise _update_error(f"disabling {old.version}", exc) from None
        new.take_over_from(old)
        env = {
            "VERSION": new.version,
            "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION": old.version,
            **_disable_codes_env(disable_codes, handler.multi_config),
        }
        # The newer version's update command runs; on a downgrade that is the old one's.
        upgrade = _newer(new.version, old.version)
        runner, runner_manifest = (new, manifest) if upgrade else (old, old_manifest)
        try:
            await self.operations.run(
                runner, runner_manifest, "update", self._unit(handler, extension), env
            )
        except ExtensionError:
            new.write_state("FailedUpgrade")
            raise
        uninstall_code = "0"
        try:
            await self.operations.run(old, old_manifest, "uninstall", Unit(latest_seq(old)))
        except ExtensionError as exc:
            if not keep_going:
                raise _update_error(f"uninstalling {old.version}", exc) from None
            uninstall_code = _exit_code(exc)
        remove_tree(old.dir)
        if manifest.update_with_install:
            unit = self._unit(handler, extension)
            await self._install(new, manifest, handler.name, unit, uninstall_code)
        else:
            new.write_state("Installed")
        log.info("%s: updated from %s to %s", handler.name, old.version, new.version)
        return uninstall_code


def _check_config(handler: HandlerPlan) -> None:
    if handler.error is not None:
        raise ExtensionError(
            Code.UNKNOWN_FAILURE,
            CONFIG_ERROR.format(handler.error),
            operation="InvalidExtensionConfig",
        )


def _newer(a: str, b: str) -> bool:
    first, second = Version.parse(a), Version.parse(b)
    return first is not None and second is not None and first > second


def _exit_code(error: ExtensionError) -> str:
    return str(error.exit_code) if error.exit_code is not None else str(error.code)


def _update_error(step: str, error: ExtensionError) -> ExtensionError:
    return ExtensionError(
        Code.UPDATE_FAILED,
        f"update error: {step} failed: {error.text}",
        operation="Update",
        exit_code=error.exit_code,
    )


def _disable_codes_env(codes: dict[str | None, str], multi_config: bool) -> dict[str, str]:
    if multi_config:
        listing = [{"extensionName": name, "exitCode": code} for name, code in codes.items()]
        return {"AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS": json.dumps(listing)}
    return {"AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE": codes.get(None, NOT_RUN)}
