"""Processing one extensions goal state (reference §9.8): the plan's items in order, the waits
for dependencies, the refusals, the cleanup, and the goal state's outcome.

An item runs only when everything it depends on succeeded: each dependency with settings is
waited for until its status is terminal (success or error) or the dependency deadline passes.
A failure skips what depends on it, and only that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from .. import AGENT_NAME, AGENT_VERSION
from .agent_disabled import AgentSwitch
from .aggregate_status import utc_now
from .errors import Code, ExtensionError
from .layout import Layouts, split_dir_name
from .lifecycle import Lifecycle
from .package import remove_tree
from .plan import ItemKey, Plan, PlanItem
from .records import Records
from .report import Reporter
from .state import GoalStateOutcome

log = logging.getLogger(__name__)

SUCCESS_MESSAGE = "GoalState executed successfully"
# Classic's telemetry operations (§9.8).
UNSUPPORTED_FEATURES_OPERATION = "GoalStateUnsupportedFeatures"
PROCESSING_OPERATION = "ExtensionProcessing"
AGENT_DIR_PREFIX = "WALinuxAgent-"


@dataclass(frozen=True)
class ProcessingSettings:
    extensions_enabled: bool = True
    honour_on_hold: bool = True
    config_path: str = "/etc/waagent.conf"
    dependency_timeout: float = 90 * 60
    dependency_poll: float = 0.1


def disabled_message(item: PlanItem, config_path: str) -> str:
    return (
        f"Extension '{item.label}' will not be processed since extension processing is disabled. "
        f"To enable extension processing, set Extensions.Enabled=y in '{config_path}'"
    )


def _unexpected(exc: Exception) -> ExtensionError:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return ExtensionError(
        Code.UNKNOWN_FAILURE,
        f"Unexpected error when processing the extension: {type(exc).__name__}: {first}",
        operation=PROCESSING_OPERATION,
    )


class Processor:
    def __init__(
        self,
        lifecycle: Lifecycle,
        records: Records,
        reporter: Reporter,
        layouts: Layouts,
        settings: ProcessingSettings,
        *,
        agent: AgentSwitch | None = None,
        before_extensions: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifecycle = lifecycle
        self.agent = agent
        # Awaited once the goal state's records exist and before its first extension runs
        # (Extensions.WaitForCloudInit); the status is published first.
        self.before_extensions = before_extensions
        self.records = records
        self.reporter = reporter
        self.layouts = layouts
        self.settings = settings
        self.clock = clock
        self._labels: dict[ItemKey, str] = {}

    async def process(
        self, plan: Plan, step_done: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Run the plan; `step_done` is awaited after each extension (the status is published)."""
        if plan.on_hold and self.settings.honour_on_hold:
            log.info("Extension handling is on hold (goal state %s)", plan.goal_state_id)
            return
        self.records.begin(plan)
        self.lifecycle.new_goal_state()
        started = self.clock()
        log.info("ProcessExtensionsGoalState started [%s]", plan.description)
        try:
            outcome = await self._process(plan, step_done)
        except Exception as exc:
            log.exception("processing goal state %s failed unexpectedly", plan.goal_state_id)
            outcome = self._outcome(
                plan,
                "Failed",
                Code.UNKNOWN_FAILURE,
                f"Unexpected error when processing goal state: {exc}",
            )
        self.records.finish(outcome)
        seconds = self.clock() - started
        message = (
            f"ProcessExtensionsGoalState completed [{plan.description} {seconds * 1000:.0f} ms]"
        )
        log.info("%s", message)
        self.lifecycle.telemetry.operation(
            AGENT_NAME,
            AGENT_VERSION,
            PROCESSING_OPERATION,
            outcome.status == "Success",
            message,
            seconds,
        )

    def _outcome(
        self, plan: Plan, status: Literal["Success", "Failed"], code: int, message: str
    ) -> GoalStateOutcome:
        return GoalStateOutcome(
            status=status,
            code=code,
            message=message,
            timestamp=utc_now(),
            svd_seq_no=plan.svd_seq_no,
        )

    async def _process(
        self, plan: Plan, step_done: Callable[[], Awaitable[None]] | None
    ) -> GoalStateOutcome:
        if self.agent is not None and self.agent.disabled():
            return await self._agent_disabled(plan, self.agent, step_done)
        if plan.unsupported_features:
            features = ", ".join(plan.unsupported_features)
            message = f"Failing GS {plan.goal_state_id} as Unsupported features found: {features}"
            log.error("%s", message)
            self.lifecycle.telemetry.operation(
                AGENT_NAME, AGENT_VERSION, UNSUPPORTED_FEATURES_OPERATION, False, message, 0.0
            )
            return self._outcome(plan, "Failed", Code.UNSUPPORTED_REQUIRED_FEATURES, message)
        if self.before_extensions is not None and plan.items and self.settings.extensions_enabled:
            if step_done is not None:
                await step_done()
            await self.before_extensions()
        deadline = self.clock() + self.settings.dependency_timeout
        self._labels = {i.key: i.label for i in plan.items}
        failed: set[ItemKey] = set()
        for item in plan.items:
            try:
                if not await self._item(item, failed, deadline):
                    failed.add(item.key)
            except Exception as exc:
                # One extension's surprise is its own failure: the others still run.
                log.exception("%s: processing failed unexpectedly", item.label)
                self.lifecycle.report_failure(item, _unexpected(exc))
                failed.add(item.key)
            self.records.save()
            if step_done is not None:
                await step_done()
        if self.settings.extensions_enabled:
            self.cleanup(plan)
        return self._outcome(plan, "Success", Code.SUCCESS, SUCCESS_MESSAGE)

    async def _item(self, item: PlanItem, failed: set[ItemKey], deadline: float) -> bool:
        """Process one item; False when it failed (the failure is reported)."""
        if not self.settings.extensions_enabled:
            self._refuse(item)
            return True
        if item.handler.error is not None:
            await self.lifecycle.run(item)  # reports the configuration error
            return False
        if (problem := await self._dependencies(item, failed, deadline)) is not None:
            self.lifecycle.report_failure(
                item, ExtensionError(Code.UNKNOWN_FAILURE, problem, operation=PROCESSING_OPERATION)
            )
            return False
        return await self.lifecycle.run(item)

    def _refuse(self, item: PlanItem, message: str | None = None, *, forced: bool = False) -> None:
        code = Code.ENABLE_FAILED if not item.is_removal else Code.DISABLE_FAILED
        text = message or disabled_message(item, self.settings.config_path)
        error = ExtensionError(code, text, operation=PROCESSING_OPERATION)
        self.lifecycle.report_failure(item, error, forced=forced or not item.is_removal)
        self.records.update(item.handler.name, disallowed=True)

    async def _agent_disabled(
        self, plan: Plan, agent: AgentSwitch, step_done: Callable[[], Awaitable[None]] | None
    ) -> GoalStateOutcome:
        """ProvisionGuestAgent=false: nothing is downloaded or run; every handler says why."""
        agent.announce()
        for item in plan.items:
            self._refuse(item, agent.handler_message(item.label), forced=True)
        self.records.save()
        if step_done is not None:
            await step_done()
        return self._outcome(plan, "Failed", Code.PROCESSING_ERROR, agent.goal_state_message())

    async def _dependencies(
        self, item: PlanItem, failed: set[ItemKey], deadline: float
    ) -> str | None:
        """Why the item cannot run (a dependency failed or did not succeed in time), or None."""
        for key in item.depends_on:
            label = self._labels.get(key, key[0])
            if key in failed:
                return (
                    "Skipping processing of extensions since execution of dependent "
                    f"extension {label} failed"
                )
            status = await self._wait_terminal(key, deadline)
            if status is None:
                continue  # nothing to wait for: a dependency without settings
            if status not in ("success", "error"):
                failed.add(key)
                return (
                    f"Dependent Extension {label} did not reach a terminal state within the "
                    f"allowed timeout. Last status was {status}"
                )
            if status != "success":
                failed.add(key)
                return f"Dependent Extension {label} did not succeed. Status was {status}"
        return None

    async def _wait_terminal(self, key: ItemKey, deadline: float) -> str | None:
        while True:
            status = self._status_of(key)
            if status is None or status in ("success", "error") or self.clock() >= deadline:
                return status
            await asyncio.sleep(self.settings.dependency_poll)

    def _status_of(self, key: ItemKey) -> str | None:
        record = self.records.get(key[0])
        if record is None:
            return None
        for entry in self.reporter.entries_of(record):
            if entry.extension is None:
                continue
            if key[1] is None or entry.extension.name == key[1]:
                return entry.detail.status if entry.detail is not None else None
        return None

    def cleanup(self, plan: Plan) -> None:
        """Remove the directories (and classic zips) of handlers not in the goal state."""
        wanted = {h.name for h in plan.handlers}
        lib_dir = self.layouts.lib_path
        if not lib_dir.is_dir():
            return
        for entry in os.scandir(lib_dir):
            if entry.name.startswith(AGENT_DIR_PREFIX):
                continue
            if entry.name.endswith(".zip"):
                name, sep, version = entry.name[:-4].rpartition("__")
                if sep and name not in wanted and not (lib_dir / f"{name}-{version}").exists():
                    os.unlink(entry.path)
                continue
            parsed = split_dir_name(entry.name)
            if parsed is None or parsed[0] in wanted or not entry.is_dir(follow_symlinks=False):
                continue
            log.info("removing %s: its handler is no longer in the goal state", entry.name)
            remove_tree(lib_dir / entry.name)
        self.records.keep_only({name.lower() for name in wanted})
