"""Building the extd daemon from the configuration: every collaborator in one place."""

from __future__ import annotations

from pathlib import Path

from ..common.boot import current_boot_id
from ..common.classic_files import ClassicFiles
from ..common.clients.wire import WireApi
from ..common.commands import CommandRunner, Runner
from ..common.config import AgentConfig
from ..common.root import Root
from .agent_disabled import AgentSwitch
from .cloud_init_wait import CloudInitWait
from .command_spec import SliceLimits
from .commands import HandlerCommands, Launcher
from .event_budget import FILE_NAME as EVENT_BUDGET_FILE
from .event_budget import EventBudget
from .event_watch import EventWatch, PathUnits
from .launch_records import LaunchRecords
from .layout import Layouts
from .lifecycle import Lifecycle, LifecycleSettings
from .operations import Timeouts
from .processing import ProcessingSettings, Processor
from .records import Records
from .report import Reporter
from .service import ExtensionsService, WatchSettings
from .state import StateStore
from .telemetry import Telemetry

RUNNING_FILE = "extd.running"  # the commands running now (for a restarted extd)
OUTPUT_DIR = ".extd-output"  # their stdout and stderr, root only


def lifecycle_settings(config: AgentConfig) -> LifecycleSettings:
    return LifecycleSettings(
        timeouts=Timeouts(
            install=config.extensions_install_timeout,
            enable=config.extensions_enable_timeout,
            disable=config.extensions_disable_timeout,
            uninstall=config.extensions_uninstall_timeout,
            update=config.extensions_update_timeout,
        ),
        limits=SliceLimits(config.extensions_cpu_quota, config.extensions_memory_limit_mb),
    )


def collection_interval(config: AgentConfig) -> float:
    """How often extd collects extension events while it runs: the classic period, at most a
    minute (and at least a second)."""
    return max(1.0, min(float(config.debug_etp_collection_period), 60.0))


def build_service(
    config: AgentConfig,
    root: Root,
    wire: WireApi,
    *,
    launcher: Launcher | None = None,
    config_path: str = "/etc/waagent.conf",
    watch: WatchSettings | None = None,
    runner: CommandRunner | None = None,
    path_units: PathUnits | None = None,
) -> ExtensionsService:
    layouts = Layouts(root, config.lib_dir, config.extension_log_dir)
    root.makedirs(config.lib_dir, 0o700)
    records = Records(StateStore(root, config.lib_dir), layouts)
    reporter = Reporter(layouts)
    telemetry = Telemetry()
    lib_dir = Path(root.resolve(config.lib_dir))
    commands = HandlerCommands(
        launcher, LaunchRecords(lib_dir / RUNNING_FILE), lib_dir / OUTPUT_DIR
    )
    classic_files = ClassicFiles(root, config.lib_dir)
    agent = AgentSwitch(lib_dir, telemetry)
    cloud_init = None
    if config.extensions_wait_for_cloud_init:
        cloud_init = CloudInitWait(
            root,
            runner or Runner(),
            telemetry,
            timeout=config.extensions_wait_for_cloud_init_timeout,
            boot_id=current_boot_id(),
        )
    lifecycle = Lifecycle(
        layouts,
        records,
        wire,
        commands,
        telemetry,
        settings=lifecycle_settings(config),
        endpoint=classic_files.endpoint,
    )
    processor = Processor(
        lifecycle,
        records,
        reporter,
        layouts,
        ProcessingSettings(
            extensions_enabled=config.extensions_enabled,
            honour_on_hold=config.enable_over_provisioning,
            config_path=config_path,
            dependency_timeout=config.extensions_dependency_timeout,
        ),
        agent=agent,
        before_extensions=cloud_init.wait_once if cloud_init is not None else None,
    )
    service = ExtensionsService(
        wire=wire,
        layouts=layouts,
        records=records,
        reporter=reporter,
        lifecycle=lifecycle,
        processor=processor,
        telemetry=telemetry,
        classic_files=classic_files,
        agent=agent,
        budget=EventBudget(lib_dir / EVENT_BUDGET_FILE, config.debug_etp_collection_period),
        event_watch=EventWatch(path_units),
        watch=watch or WatchSettings(events=collection_interval(config)),
    )
    return service
