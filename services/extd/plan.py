"""Goal state -> plan: every validation rule of reference §9.1 and the processing order of §9.8.

Wire hands over the extensions goal state close to the XML; this module judges it. A handler
whose settings break a rule gets an `error` (it is reported, never executed); the others become
items (one per settings object, or one for a handler without settings), ordered the classic way:
removals first in reverse dependency order, then installs and enables by dependency level.

Dependencies are also followed by name (DependsOnExtension), which the classic agent ignored: a
cycle is an error on the handlers in it, an explicit dependency is waited for even when the levels
disagree, and a failure skips only what depends on it. An item with a level but no named
dependency depends on every enabled item of a lower level, as in the classic agent.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..common.models.extensions import ExtensionsGoalState, Plugin, PluginSettings, RuntimeSettings
from .versions import is_version

log = logging.getLogger(__name__)

MULTI_CONFIG_FEATURE = "MultipleExtensionsPerHandler"
VERSIONING_FEATURE = "VersioningGovernance"
HANDLER_STATES = ("enabled", "disabled", "uninstall")

HandlerState = Literal["enabled", "disabled", "uninstall"]
ExtensionState = Literal["enabled", "disabled"]
# Names become file and directory names: one path component, no leading dot. Always used with
# fullmatch: `$` would accept a trailing newline.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Settings deeper than this are refused: their settings file is written with json.dumps, which
# recurses (classic settings are a few levels deep).
MAX_SETTINGS_DEPTH = 100
# How much of a bad value a message quotes: messages go to the fabric and the log.
_QUOTE = 100
# (handler name in lower case, extension name or None): what an item is and what it depends on.
ItemKey = tuple[str, str | None]


class ConfigProblem(ValueError):
    """A rule of §9.1 the handler's configuration breaks (one line)."""


def _quote(value: str) -> str:
    """A value for a message: repr, cut to a few words."""
    text = repr(value)
    return text if len(text) <= _QUOTE else f"{text[:_QUOTE]}... ({len(value)} characters)"


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
    def has_settings(self) -> bool:
        return bool(self.extensions)

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
    on_hold: bool = False
    unsupported_features: tuple[str, ...] = ()
    handlers: tuple[HandlerPlan, ...] = ()
    items: tuple[PlanItem, ...] = ()
    # Plugins that could not even be named (no name or version): logged and skipped.
    skipped: tuple[str, ...] = field(default=())

    def handler(self, name: str) -> HandlerPlan | None:
        return next((h for h in self.handlers if h.key == name.lower()), None)


def supported_features(versioning: bool) -> frozenset[str]:
    return frozenset({MULTI_CONFIG_FEATURE, *([VERSIONING_FEATURE] if versioning else [])})


# ---- settings -------------------------------------------------------------------------------


def _int(text: str | None, what: str) -> int:
    if text is None or not text.strip():
        raise ConfigProblem(f"{what} is missing")
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigProblem(f"{what} {_quote(text)} is not a number") from None


def _level(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0  # classic: an unparsable dependencyLevel is level 0


_TOO_DEEP = f"the settings are nested more than {MAX_SETTINGS_DEPTH} levels deep"


def _depth(document: Any) -> int:
    """How deep lists and objects nest in a parsed document (without recursing)."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(document, 0)]
    while todo:
        value, depth = todo.pop()
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_SETTINGS_DEPTH:
                break
            todo.extend((child, depth + 1) for child in children)
    return deepest


def _handler_settings(text: str) -> dict[str, Any]:
    """The first `runtimeSettings[].handlerSettings` of a settings document."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigProblem(f"the settings are not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigProblem(_TOO_DEEP) from None
    if _depth(document) > MAX_SETTINGS_DEPTH:
        raise ConfigProblem(_TOO_DEEP)
    runtime = document.get("runtimeSettings") if isinstance(document, dict) else None
    if not isinstance(runtime, list) or not runtime:
        raise ConfigProblem("the settings have no runtimeSettings list")
    first = runtime[0]
    handler = first.get("handlerSettings") if isinstance(first, dict) else None
    if not isinstance(handler, dict):
        raise ConfigProblem("the settings have no runtimeSettings[].handlerSettings")
    if len(runtime) > 1:
        log.warning("only the first of %d runtimeSettings is used", len(runtime))
    return handler


def _optional_str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise ConfigProblem(f"{what} is not a string")


def _settings(
    runtime: RuntimeSettings,
    name: str,
    level: int,
    depends_on: tuple[Dependency, ...],
    certificates: frozenset[str] | None,
) -> tuple[ExtensionSettings, str | None]:
    """The settings object, and the problem with it (the object still carries name/seq/state)."""
    seq_no = _int(runtime.seq_no, f"seqNo of {name}")
    state = (runtime.state or "enabled").lower()
    if state not in ("enabled", "disabled"):
        raise ConfigProblem(
            f"state {_quote(runtime.state or '')} of extension {name} is not enabled/disabled"
        )
    bare = ExtensionSettings(name, seq_no, state, level=level, depends_on=depends_on)  # type: ignore[arg-type]
    try:
        handler = _handler_settings(runtime.text)
        full = replace(
            bare,
            public_settings=handler.get("publicSettings"),
            protected_settings=_optional_str(handler.get("protectedSettings"), "protectedSettings"),
            thumbprint=_optional_str(
                handler.get("protectedSettingsCertThumbprint"), "protectedSettingsCertThumbprint"
            ),
        )
    except ConfigProblem as exc:
        return bare, str(exc)
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
            f"{_quote(settings.version)}"
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
        raise ConfigProblem(f"Unknown ext handler state {_quote(plugin.state)}")


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
            raise ConfigProblem(f"extension name {_quote(runtime.name)} is not a valid name")
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


def _named(item: PlanItem) -> tuple[Dependency, ...]:
    return item.extension.depends_on if item.extension else item.handler.depends_on


def _resolve(items: list[PlanItem]) -> list[PlanItem]:
    """Each enabled item with the keys of the enabled items it depends on."""
    enabled = [i for i in items if not i.is_removal]
    resolved = []
    for item in items:
        if item.is_removal:
            resolved.append(item)
            continue
        named = _named(item)
        if named:
            keys = [o.key for o in enabled if any(d.matches(o.key) for d in named)]
            missing = [d.handler for d in named if not any(d.matches(o.key) for o in enabled)]
            if missing:
                log.warning("%s depends on %s, which is not enabled here", item.label, missing)
        else:
            # Classic: everything of a lower level, except what names this item as its own
            # dependency (levels that disagree with the names give way to the names).
            keys = [
                o.key
                for o in enabled
                if 0 <= o.order_key < item.order_key
                and not any(d.matches(item.key) for d in _named(o))
            ]
        keys = [k for k in keys if k != item.key]
        resolved.append(replace(item, depends_on=tuple(dict.fromkeys(keys))))
    return resolved


def _cycles(items: list[PlanItem]) -> dict[str, str]:
    """Handlers on a dependency cycle, each with the cycle written out."""
    graph = {i.key: i.depends_on for i in items if not i.is_removal}
    labels = {i.key: i.label for i in items}
    found: dict[str, str] = {}
    state: dict[ItemKey, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: ItemKey, path: list[ItemKey]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                text = " -> ".join(labels[k] for k in cycle)
                for member in cycle:
                    found.setdefault(member[0], f"dependsOn cycle: {text}")
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    return found


def _ordered(items: list[PlanItem]) -> list[PlanItem]:
    """Removals by key; then the rest in dependency order, lowest level first (Kahn)."""
    removals = sorted((i for i in items if i.is_removal), key=lambda i: i.order_key)
    rest = [i for i in items if not i.is_removal]
    keys = {i.key for i in rest}
    waiting = {n: {d for d in i.depends_on if d in keys} for n, i in enumerate(rest)}
    dependents: dict[ItemKey, list[int]] = {}
    for n, deps in waiting.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(n)
    ready = [(rest[n].order_key, n) for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    done: list[int] = []
    while ready:
        _, n = heapq.heappop(ready)
        done.append(n)
        for other in dependents.get(rest[n].key, []):
            waiting[other].discard(rest[n].key)
            if not waiting[other]:
                heapq.heappush(ready, (rest[other].order_key, other))
    leftover = [n for n in range(len(rest)) if n not in set(done)]  # only on a cycle
    return removals + [rest[n] for n in done + leftover]


def build_plan(
    goal_state: ExtensionsGoalState,
    *,
    versioning: bool = False,
    certificates: frozenset[str] | None = None,
) -> Plan:
    """The plan of a goal state; `certificates` (upper-case thumbprints), when given, are the
    ones protected settings may be encrypted for."""
    supported = supported_features(versioning)
    unsupported = tuple(f for f in goal_state.required_features if f not in supported)
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
    items = _resolve(_items(handlers))
    cycles = _cycles(items)
    if cycles:
        handlers = [replace(h, error=cycles[h.key]) if h.key in cycles else h for h in handlers]
        items = _resolve(_items(handlers))
    return Plan(
        goal_state_id=goal_state.id,
        incarnation=goal_state.incarnation,
        svd_seq_no=goal_state.svd_seq_no or goal_state.incarnation,
        on_hold=goal_state.on_hold,
        unsupported_features=unsupported,
        handlers=tuple(handlers),
        items=tuple(_ordered(items)),
        skipped=tuple(skipped),
    )
