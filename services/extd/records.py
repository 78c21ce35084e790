"""The agent's view of each handler while and after a goal state is processed.

One `HandlerRecord` per handler of the goal state: its handler status (classic HandlerStatus),
the settings objects whose status is reported, and the failures the agent reports for
extensions that wrote no status. Every change is mirrored into the handler's
`config/HandlerStatus` (the classic file) when the handler has a directory, and the whole lot is
saved in `extd.json` after each step (the caller saves), so a restart finds what was reported;
what was done is in the classic state files, written at once.
"""

from __future__ import annotations

from typing import Any

from .layout import HandlerStatusFile, Layouts
from .plan import HandlerPlan, Plan
from .state import (
    ExtensionFailure,
    ExtensionRef,
    GoalStateOutcome,
    HandlerRecord,
    StateStore,
)


def refs(handler: HandlerPlan) -> tuple[ExtensionRef, ...]:
    return tuple(
        ExtensionRef(name=e.name, seq_no=e.seq_no, state=e.state) for e in handler.extensions
    )


class Records:
    def __init__(self, store: StateStore, layouts: Layouts) -> None:
        self.store = store
        self.layouts = layouts
        self.state = store.load()

    # ---- reading ----

    @property
    def handlers(self) -> dict[str, HandlerRecord]:
        return self.state.handlers

    def get(self, name: str) -> HandlerRecord | None:
        return self.state.handlers.get(name.lower())

    # ---- a goal state ----

    def begin(self, plan: Plan) -> None:
        """A new goal state: its handlers get records (keeping what is known of them)."""
        handlers = dict(self.state.handlers)
        for handler in plan.handlers:
            old = handlers.get(handler.key)
            fields: dict[str, Any] = {
                "requested_state": handler.state,
                "multi_config": handler.multi_config,
                "extensions": refs(handler),
                "disallowed": False,
            }
            if old is None:
                handlers[handler.key] = HandlerRecord(
                    name=handler.name, version=handler.version, **fields
                )
            else:
                # Failures of older sequence numbers no longer apply.
                fields["failures"] = {
                    name: failure
                    for name, failure in old.failures.items()
                    if (ref := next((r for r in fields["extensions"] if r.name == name), None))
                    and ref.seq_no == failure.seq_no
                    and not failure.forced
                }
                handlers[handler.key] = old.model_copy(update=fields)
        self.state = self.state.model_copy(
            update={"goal_state_id": plan.goal_state_id, "completed": False, "handlers": handlers}
        )
        self.save()

    def accept(self, goal_state_id: str) -> None:
        """A goal state was handed over: on disk before wire hears that it was taken, so an
        extd that dies before finishing it resumes it at its next start."""
        self.state = self.state.model_copy(
            update={"goal_state_id": goal_state_id, "completed": False}
        )
        self.save()

    def finish(self, outcome: GoalStateOutcome) -> None:
        self.state = self.state.model_copy(
            update={"completed": True, "outcome": outcome, "reported": False}
        )
        self.save()

    def mark_reported(self) -> None:
        """Wire took the status of the completed goal state."""
        if self.state.completed and not self.state.reported:
            self.state = self.state.model_copy(update={"reported": True})
            self.save()

    def keep_only(self, names: set[str]) -> None:
        """Forget handlers that are no longer in the goal state (their directories are gone)."""
        kept = {k: v for k, v in self.state.handlers.items() if k in names}
        self.state = self.state.model_copy(update={"handlers": kept})
        self.save()

    # ---- one handler ----

    def update(self, name: str, **changes: Any) -> HandlerRecord:
        record = self.get(name)
        if record is None:
            raise KeyError(name)
        record = record.model_copy(update=changes)
        self.state.handlers[record.key] = record
        self._mirror(record)
        return record

    def set_status(
        self, name: str, status: str, code: int, message: str | None, **changes: Any
    ) -> HandlerRecord:
        return self.update(name, status=status, code=code, message=message, **changes)

    def fail_extension(self, name: str, extension: str, failure: ExtensionFailure) -> None:
        record = self.get(name)
        if record is not None:
            self.update(name, failures={**record.failures, extension: failure})

    def clear_failure(self, name: str, extension: str) -> None:
        record = self.get(name)
        if record is not None and extension in record.failures:
            failures = {k: v for k, v in record.failures.items() if k != extension}
            self.update(name, failures=failures)

    def remove(self, name: str) -> None:
        if self.state.handlers.pop(name.lower(), None) is not None:
            self.save()

    def save(self) -> None:
        self.store.save(self.state)

    def _mirror(self, record: HandlerRecord) -> None:
        layout = self.layouts.of(record.name, record.version)
        if layout.exists():
            layout.write_handler_status(
                HandlerStatusFile(
                    name=record.name,
                    version=record.version,
                    status=record.status,
                    code=record.code,
                    message=record.message,
                    supports_multi_config=record.multi_config,
                )
            )
