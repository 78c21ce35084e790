"""Running one operation of a handler the classic way (reference §9.9): its command from
HandlerManifest.json, the classic environment variables, timeout and error code, its slice and
limits, the command log, and a telemetry event for it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from .command_spec import CommandResult, CommandSpec, SliceLimits, slice_name
from .commands import HandlerCommands
from .errors import Code, ExtensionError
from .handler_manifest import HandlerManifest, Operation
from .layout import HandlerLayout
from .telemetry import Telemetry

NOT_RUN = "NOT_RUN"
SUPPORTED_FEATURES = json.dumps([{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}])
OPERATION_NAMES: dict[Operation, str] = {
    "install": "Install",
    "enable": "Enable",
    "disable": "Disable",
    "uninstall": "UnInstall",
    "update": "Update",
}
ERROR_CODES: dict[Operation, int] = {
    "install": Code.INSTALL_FAILED,
    "enable": Code.ENABLE_FAILED,
    "disable": Code.DISABLE_FAILED,
    "uninstall": Code.PROCESSING_ERROR,
    "update": Code.UPDATE_FAILED,
}


@dataclass(frozen=True)
class Timeouts:
    install: float = 900
    enable: float = 300
    disable: float = 900
    uninstall: float = 300
    update: float = 900

    def of(self, operation: Operation) -> float:
        return float(getattr(self, operation))


@dataclass
class Unit:
    """Who a command is run for: the handler (no settings) or one settings object."""

    seq_no: int = 0
    extension: str | None = None  # multi-config extension name


def latest_seq(layout: HandlerLayout, extension: str | None = None) -> int:
    """The seqNo of the most recently written settings file (classic: not the largest)."""
    pattern = f"{extension}.*.settings" if extension else "*.settings"
    best: tuple[float, int] | None = None
    for path in layout.config_dir.glob(pattern):
        parts = path.name.split(".")
        number = parts[-2] if len(parts) >= 2 else ""
        if not number.isdigit() or (extension is None and len(parts) != 2):
            continue
        stamp = path.stat().st_mtime
        if best is None or stamp > best[0]:
            best = (stamp, int(number))
    return best[1] if best else 0


class Operations:
    def __init__(
        self,
        commands: HandlerCommands,
        telemetry: Telemetry,
        timeouts: Timeouts,
        limits: SliceLimits,
        *,
        endpoint: Callable[[], str] = lambda: "",
    ) -> None:
        self.commands = commands
        self.telemetry = telemetry
        self.timeouts = timeouts
        self.limits = limits
        self.endpoint = endpoint

    def env(self, layout: HandlerLayout, unit: Unit, extra: dict[str, str]) -> dict[str, str]:
        env = {
            "AZURE_GUEST_AGENT_EXTENSION_PATH": str(layout.dir),
            "AZURE_GUEST_AGENT_EXTENSION_VERSION": layout.version,
            "AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS": self.endpoint(),
            "ConfigSequenceNumber": str(unit.seq_no),
            "AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES": SUPPORTED_FEATURES,
        }
        if unit.extension is not None:
            env["ConfigExtensionName"] = unit.extension
        return {**env, **extra}

    def slice_limits(self, manifest: HandlerManifest) -> SliceLimits:
        cpu = manifest.limits.cpu_quota_percentage or self.limits.cpu_quota_percent
        return SliceLimits(cpu, self.limits.memory_max_mb)

    async def run(
        self,
        layout: HandlerLayout,
        manifest: HandlerManifest,
        operation: Operation,
        unit: Unit,
        extra: dict[str, str] | None = None,
    ) -> CommandResult:
        """Run the operation's command; a failure raises ExtensionError with the classic code."""
        name = OPERATION_NAMES[operation]
        command = manifest.command(operation)
        if command is None:
            raise ExtensionError(
                ERROR_CODES[operation],
                f"HandlerManifest.json of {layout.name} has no {operation}Command",
                operation=name,
            )
        spec = CommandSpec(
            operation=name,
            command=command,
            cwd=layout.dir,
            env=self.env(layout, unit, extra or {}),
            timeout=self.timeouts.of(operation),
            error_code=ERROR_CODES[operation],
            log_file=layout.command_log(unit.extension),
            slice_name=slice_name(layout.name, unit.extension),
            limits=self.slice_limits(manifest),
            handler=f"{layout.name} {layout.version}",
        )
        started = time.monotonic()
        try:
            result = await self.commands.run(spec)
        except ExtensionError as exc:
            self.telemetry.operation(
                layout.name, layout.version, name, False, exc.text, time.monotonic() - started
            )
            raise
        self.telemetry.operation(
            layout.name, layout.version, name, True, result.output, result.duration
        )
        return result
