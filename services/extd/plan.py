"""Goal state -> plan: every validation rule of reference §9.1 and the processing order of §9.8.

Wire hands over the extensions goal state close to the XML, parsed once (sequence numbers as
numbers, settings as values, what it could not parse as problems); this module judges it. A handler
whose settings break a rule gets an `error` (it is reported, never executed); the others become
items (one per settings object, or one for a handler without settings), ordered the classic way:
removals first in reverse dependency order, then installs and enables by dependency level.

Dependencies are also followed by name (DependsOnExtension), which the classic agent ignored: a
cycle is an error on the handlers in it, an explicit dependency is waited for even when the levels
disagree, and a failure skips only what depends on it. An item with a level but no named
dependency depends on every enabled item of a lower level, as in the classic agent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..common import features
from ..common.models.extensions import (
    ExtensionsGoalState,
    Plugin,
    PluginSettings,
    RuntimeSettings,
    quote,
)
from .order import cycles, ordered, resolve
from .versions import is_version

log = logging.getLogger(__name__)

TICKS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # .NET ticks: 100 ns since 0001-01-01

HANDLER_STATES = ("enabled", "disabled", "uninstall")

HandlerState = Literal["enabled", "disabled", "uninstall"]
ExtensionState = Literal["enabled", "disabled"]
# Names become file and directory names: one path component, no leading dot. Always used with
# fullmatch: `$` would accept a trailing newline.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# (handler name in lower case, extension name or None): what an item is and what it depends on.
ItemKey = tuple[str, str | None]


class ConfigProblem(ValueError):
    """A rule of §9.1 the handler's configuration breaks (one line)."""


@dataclass(frozen=True)
class Dependency:
    handler: str
    extension: str | None = None

    def matches(self, key: ItemKey) -> bool:
        if key[0] != self.handler.lower():
            return False
        return self.extension is None or key[1] is None or key[1] == self.extension


@dataclass(frozen=True)
class ExtensionSettings:
    """One settings object: the handler's (single-config) or one named extension's."""

    name: str
    seq_no: int
    state: ExtensionState = "enabled"
    public_settings: Any = None
    protected_settings: str | None = None
    thumbprint: str | None = None
    level: int = 0
    depends_on: tuple[Dependency, ...] = ()

    def handler_settings(self) -> dict[str, Any]:
        """The `handlerSettings` object of the settings file (classic key order)."""
        return {
            "publicSettings": self.public_settings,
            "protectedSettings": self.protected_settings,
            "protectedSettingsCertThumbprint": self.thumbprint,
        }


@dataclass(frozen=True)
class HandlerPlan:
    name: str
    version: str
    state: str
    manifest_uris: tuple[str, ...] = ()
    multi_config: bool = False
    extensions: tuple[ExtensionSettings, ...] = ()
    # Level and dependencies of a handler without settings (from a lone DependsOn).
    level: int = 0
    depends_on: tuple[Dependency, ...] = ()
    error: str | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"

    def extension(self, name: str | None) -> ExtensionSettings | None:
        return next((e for e in self.extensions if e.name == name), None)


@dataclass(frozen=True)
class PlanItem:
    """One unit of work: a handler with one settings object (or none), and its place in line."""

    handler: HandlerPlan
    extension: ExtensionSettings | None
    order_key: int
    depends_on: tuple[ItemKey, ...] = ()

    @property
    def key(self) -> ItemKey:
        name = self.extension.name if self.extension and self.handler.multi_config else None
        return (self.handler.key, name)

    @property
    def is_removal(self) -> bool:
        return self.order_key < 0

    @property
    def label(self) -> str:
        if self.extension is not None and self.handler.multi_config:
            return f"{self.handler.name}/{self.extension.name}"
        return self.handler.name


@dataclass(frozen=True)
class Plan:
    goal_state_id: str
    incarnation: str
    svd_seq_no: str
    # "<id> channel: ... source: ... activity: ... correlation ... created: ...", as classic
    # names a goal state in its ExtensionProcessing telemetry.
    description: str = ""
    on_hold: bool = False
    unsupported_features: tuple[str, ...] = ()
    handlers: tuple[HandlerPlan, ...] = ()
    items: tuple[PlanItem, ...] = ()
    # Plugins that could not even be named (no name or version): logged and skipped.
    skipped: tuple[str, ...] = field(default=())

    def handler(self, name: str) -> HandlerPlan | None:
        return next((h for h in self.handlers if h.key == name.lower()), None)


# ---- settings -------------------------------------------------------------------------------


def _level(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0  # classic: an unparsable dependencyLevel is level 0


def _settings(
    runtime: RuntimeSettings,
    name: str,
    level: int,
    depends_on: tuple[Dependency, ...],
    certificates: frozenset[str] | None,
) -> tuple[ExtensionSettings, str | None]:
    """The settings object, and the problem with it (the object still carries name/seq/state)."""
    if runtime.seq_no is None:
        raise ConfigProblem(f"seqNo of {name} {runtime.seq_no_problem or 'is missing'}")
    state = (runtime.state or "enabled").lower()
    if state not in ("enabled", "disabled"):
        raise ConfigProblem(
            f"state {quote(runtime.state or '')} of extension {name} is not enabled/disabled"
        )
    bare = ExtensionSettings(name, runtime.seq_no, state, level=level, depends_on=depends_on)  # type: ignore[arg-type]
    if runtime.settings_problem:
        return bare, runtime.settings_problem
    full = replace(
        bare,
        public_settings=runtime.public_settings,
        protected_settings=runtime.protected_settings,
        thumbprint=runtime.thumbprint,
    )
    if full.protected_settings and not full.thumbprint:
        return bare, "protectedSettings come without protectedSettingsCertThumbprint"
    thumbprint = (full.thumbprint or "").upper()
    if full.protected_settings and certificates is not None and thumbprint not in certificates:
        return full, (
            f"the protectedSettings of {name} are encrypted for certificate {thumbprint}, "
            "which this VM does not have"
        )
    return full, None


def _dependencies(
    plugin_settings: PluginSettings,
) -> dict[str | None, tuple[int, tuple[Dependency, ...]]]:
    """DependsOn elements by the extension they apply to (None: the handler)."""
    found: dict[str | None, tuple[int, tuple[Dependency, ...]]] = {}
    for element in plugin_settings.depends_on:
        deps = tuple(Dependency(d.handler, d.extension) for d in element.extensions if d.handler)
        found[element.name] = (_level(element.level), deps)
    return found


def _matching_settings(
    plugin: Plugin, all_settings: Iterable[PluginSettings]
) -> PluginSettings | None:
    matches = [s for s in all_settings if s.name.lower() == plugin.name.lower()]
    if len(matches) > 1:
        raise ConfigProblem(f"{len(matches)} PluginSettings name handler {plugin.name}")
    if not matches:
        return None  # legacy: a handler without settings is still processed
    settings = matches[0]
    if settings.version != plugin.version:
        raise ConfigProblem(
            f"Extension PluginSettings Version Mismatch! Expected PluginSettings version: "
            f"{plugin.version} for Handler: {plugin.name} but found version: "
            f"{quote(settings.version)}"
        )
    if settings.runtime_settings and settings.extension_runtime_settings:
        raise ConfigProblem("both RuntimeSettings and ExtensionRuntimeSettings are present")
    if len(settings.runtime_settings) > 1:
        raise ConfigProblem(f"{len(settings.runtime_settings)} RuntimeSettings for one handler")
    return settings


def _check_state(plugin: Plugin) -> None:
    if not plugin.state:
        raise ConfigProblem("Received empty Extensions.Plugins.Plugin.state")
    if plugin.state.lower() not in HANDLER_STATES:
        raise ConfigProblem(f"Unknown ext handler state {quote(plugin.state)}")


def _handler(
    plugin: Plugin,
    all_settings: tuple[PluginSettings, ...],
    certificates: frozenset[str] | None,
) -> HandlerPlan:
    base = HandlerPlan(
        name=plugin.name,
        version=plugin.version,
        state=plugin.state.lower(),
        manifest_uris=tuple(plugin.manifest_uris),
        multi_config=bool(plugin.is_multi_config),
    )
    try:
        _check_state(plugin)
        settings = _matching_settings(plugin, all_settings)
        if settings is None:
            return base
        deps = _dependencies(settings)
        if settings.extension_runtime_settings:
            return _multi_config(base, settings, deps, certificates)
        return _single_config(base, settings, deps, certificates)
    except ConfigProblem as exc:
        return replace(base, error=str(exc))


def _contained(
    plugin: Plugin,
    all_settings: tuple[PluginSettings, ...],
    certificates: frozenset[str] | None,
) -> HandlerPlan:
    """The handler's plan; any failure judging its configuration is an error on it alone."""
    try:
        return _handler(plugin, all_settings, certificates)
    except Exception as exc:
        log.exception("judging the configuration of %s failed", plugin.name)
        return HandlerPlan(
            name=plugin.name,
            version=plugin.version,
            state=plugin.state.lower(),
            error=f"the configuration could not be read ({type(exc).__name__})",
        )


def _single_config(
    base: HandlerPlan,
    settings: PluginSettings,
    deps: dict[str | None, tuple[int, tuple[Dependency, ...]]],
    certificates: frozenset[str] | None,
) -> HandlerPlan:
    if len(settings.depends_on) > 1:
        raise ConfigProblem(f"{len(settings.depends_on)} DependsOn for one handler")
    level, depends = deps.get(None, next(iter(deps.values()), (0, ())))
    base = replace(base, level=level, depends_on=depends)
    if not settings.runtime_settings:
        return base
    extension, problem = _settings(
        settings.runtime_settings[0], base.name, level, depends, certificates
    )
    return replace(base, extensions=(extension,), error=problem)


def _multi_config(
    base: HandlerPlan,
    settings: PluginSettings,
    deps: dict[str | None, tuple[int, tuple[Dependency, ...]]],
    certificates: frozenset[str] | None,
) -> HandlerPlan:
    base = replace(base, multi_config=True)
    if None in deps:
        raise ConfigProblem("a DependsOn of a multi-config handler has no name")
    extensions: list[ExtensionSettings] = []
    problems: list[str] = []
    for runtime in settings.extension_runtime_settings:
        if not runtime.name:
            raise ConfigProblem("an ExtensionRuntimeSettings has no name")
        if not SAFE_NAME.fullmatch(runtime.name):
            raise ConfigProblem(f"extension name {quote(runtime.name)} is not a valid name")
        level, depends = deps.get(runtime.name, (0, ()))
        extension, problem = _settings(runtime, runtime.name, level, depends, certificates)
        extensions.append(extension)
        if problem:
            problems.append(f"{runtime.name}: {problem}")
    names = [e.name for e in extensions]
    if len(set(names)) != len(names):
        raise ConfigProblem("two ExtensionRuntimeSettings have the same name")
    return replace(base, extensions=tuple(extensions), error="; ".join(problems) or None)


# ---- order ----------------------------------------------------------------------------------


def _order_key(handler: HandlerPlan, extension: ExtensionSettings | None) -> int:
    level = extension.level if extension is not None else handler.level
    if handler.enabled and (extension is None or extension.state == "enabled"):
        return level
    return -level - 1


def _items(handlers: Iterable[HandlerPlan]) -> list[PlanItem]:
    items = []
    for handler in handlers:
        extensions: list[ExtensionSettings | None] = list(handler.extensions) or [None]
        for extension in extensions:
            items.append(PlanItem(handler, extension, _order_key(handler, extension)))
    return items


def describe(goal_state: ExtensionsGoalState) -> str:
    """The goal state as classic's ExtensionProcessing telemetry names it (§9.8 step 10)."""
    created = TICKS_EPOCH + timedelta(microseconds=goal_state.created_on_ticks // 10)
    return (
        f"{goal_state.id} channel: {goal_state.channel} source: {goal_state.source} "
        f"activity: {goal_state.activity_id} correlation {goal_state.correlation_id} "
        f"created: {created:%Y-%m-%dT%H:%M:%S.%fZ}"
    )


def build_plan(
    goal_state: ExtensionsGoalState,
    *,
    certificates: frozenset[str] | None = None,
) -> Plan:
    """The plan of a goal state; `certificates` (upper-case thumbprints), when given, are the
    ones protected settings may be encrypted for."""
    unsupported = features.unsupported(goal_state.required_features)
    handlers: list[HandlerPlan] = []
    skipped: list[str] = []
    for plugin in goal_state.plugins:
        if not SAFE_NAME.fullmatch(plugin.name) or not is_version(plugin.version):
            log.warning(
                "InvalidExtensionConfig: plugin %r version %r is ignored (not a usable name "
                "and version)",
                plugin.name[:100],
                plugin.version[:40],
            )
            skipped.append(plugin.name or "(no name)")
            continue
        if any(h.key == plugin.name.lower() for h in handlers):
            log.warning("InvalidExtensionConfig: handler %s is listed twice", plugin.name)
            skipped.append(plugin.name)
            continue
        handlers.append(_contained(plugin, goal_state.plugin_settings, certificates))
    items = resolve(_items(handlers))
    on_cycles = cycles(items)
    if on_cycles:
        handlers = [
            replace(h, error=on_cycles[h.key]) if h.key in on_cycles else h for h in handlers
        ]
        items = resolve(_items(handlers))
    return Plan(
        goal_state_id=goal_state.id,
        incarnation=goal_state.incarnation,
        svd_seq_no=goal_state.svd_seq_no or goal_state.incarnation,
        description=describe(goal_state),
        on_hold=goal_state.on_hold,
        unsupported_features=unsupported,
        handlers=tuple(handlers),
        items=tuple(ordered(items)),
        skipped=tuple(skipped),
    )
