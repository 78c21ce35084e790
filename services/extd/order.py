"""The processing order of a plan (§9.8): who waits for whom, cycles, and the order of the items.

Dependencies are followed by level, as the classic agent does (an item waits for everything of a
lower level), and by name (DependsOnExtension), which the classic agent ignored: a named
dependency is waited for even when the levels disagree, and a cycle is an error on the handlers
in it. Removals go first, by key; the rest in dependency order, lowest level first.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # plan.py builds the items and imports this module
    from .plan import Dependency, ItemKey, PlanItem

log = logging.getLogger(__name__)


def named_dependencies(item: PlanItem) -> tuple[Dependency, ...]:
    return item.extension.depends_on if item.extension else item.handler.depends_on


def resolve(items: list[PlanItem]) -> list[PlanItem]:
    """Each enabled item with the keys of the enabled items it depends on."""
    enabled = [i for i in items if not i.is_removal]
    resolved = []
    for item in items:
        if item.is_removal:
            resolved.append(item)
            continue
        named = named_dependencies(item)
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
                and not any(d.matches(item.key) for d in named_dependencies(o))
            ]
        keys = [k for k in keys if k != item.key]
        resolved.append(replace(item, depends_on=tuple(dict.fromkeys(keys))))
    return resolved


def cycles(items: list[PlanItem]) -> dict[str, str]:
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


def ordered(items: list[PlanItem]) -> list[PlanItem]:
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
