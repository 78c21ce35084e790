"""Extension status files -> the status models (reference §9.10); the heartbeat files are read in
`heartbeat`, the report made of both in `aggregate_status`.

The status file of the goal state's sequence number decides an extension's status (never the
largest number on disk); a missing one is `transitioning`. Files are read with a size bound and
cached by (mtime, size), so watching many extensions costs a `stat` each. A file that does not
parse and was written in the last moments is taken as being written, not as broken.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.logs import redact
from ..common.models.status import ExtensionStatusDetail, FormattedMessage, SubStatus
from ..common.root import read_regular_file
from .errors import Code
from .state import ExtensionFailure

log = logging.getLogger(__name__)

STATUSES = ("transitioning", "warning", "error", "success")
MAX_STATUS_BYTES = 128 * 1024  # larger files are kept but truncated (classic)
MAX_MESSAGE = 1024
MAX_SUBSTATUS_FIELD = 10 * 1024
MAX_READ = 16 << 20  # beyond this a status file is refused without being parsed
SHOWN_ON_ERROR = 2000
WRITING_GRACE = 2.0  # seconds a file that does not parse may still be in the middle of a write
TRUNCATED = " ... [TRUNCATED]"


class MalformedStatus(ValueError):
    pass


def _message(obj: Any, where: str) -> FormattedMessage | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or "lang" not in obj or "message" not in obj:
        raise MalformedStatus(f"{where}.formattedMessage needs lang and message")
    text = obj["message"]
    return FormattedMessage(
        lang=str(obj["lang"]), message=None if text is None else redact(str(text))
    )


def _status_value(obj: dict[str, Any], where: str) -> str:
    if "status" not in obj:
        raise MalformedStatus(f"{where} has no status")
    value = obj["status"]
    if not isinstance(value, str):
        raise MalformedStatus(f"{where}.status {value!r} is not a string")
    # Classic (reference §9.10): a status outside the documented set ("failed", "Failed", ...)
    # is an error that keeps the extension's own code and message, not a malformed file.
    lowered = value.lower()
    return lowered if lowered in STATUSES else "error"


def _code(obj: dict[str, Any], where: str) -> int:
    try:
        return int(obj.get("code", 0) or 0)
    except (TypeError, ValueError):
        raise MalformedStatus(f"{where}.code {obj.get('code')!r} is not a number") from None


def _cut(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[:limit] + TRUNCATED


def _substatus(items: Any, large: bool) -> tuple[SubStatus, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise MalformedStatus("substatus is not a list")
    found: list[SubStatus] = []
    budget = MAX_STATUS_BYTES
    for index, item in enumerate(items):
        where = f"substatus[{index}]"
        if not isinstance(item, dict):
            raise MalformedStatus(f"{where} is not an object")
        message = _message(item.get("formattedMessage"), where)
        name = None if item.get("name") is None else str(item["name"])
        if large:
            name = _cut(name, MAX_SUBSTATUS_FIELD)
            if message is not None:
                message = message.model_copy(
                    update={"message": _cut(message.message, MAX_SUBSTATUS_FIELD)}
                )
        sub = SubStatus(
            name=name,
            status=_status_value(item, where),
            code=_code(item, where),
            formatted_message=message,
        )
        if large:
            budget -= len(sub.model_dump_json(by_alias=True))
            if budget < 0:
                break
        found.append(sub)
    return tuple(found)


def parse_status(data: bytes, name: str) -> ExtensionStatusDetail | None:
    """A status file's first element as reported; None for an empty array."""
    try:
        document = json.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except ValueError as exc:
        raise MalformedStatus(f"invalid JSON ({exc})") from None
    if not isinstance(document, list):
        raise MalformedStatus("the status file is not a JSON array")
    if not document:
        return None
    first = document[0]
    status = first.get("status") if isinstance(first, dict) else None
    if not isinstance(status, dict):
        raise MalformedStatus("status[0] has no status object")
    large = len(data) > MAX_STATUS_BYTES
    message = _message(status.get("formattedMessage"), "status") or FormattedMessage()
    if large:
        message = message.model_copy(update={"message": _cut(message.message, MAX_MESSAGE)})
    substatus = _substatus(status.get("substatus"), large)
    applied = status.get("configurationAppliedTime")
    operation = status.get("operation")
    return ExtensionStatusDetail(
        name=name,
        configuration_applied_time=None if applied is None else str(applied),
        operation=None if operation is None else str(operation),
        status=_status_value(status, "status"),
        code=_code(status, "status"),
        formatted_message=message,
        substatus=substatus or None,
    )


def detail(
    name: str, status: str, code: int, message: str, operation: str | None = None
) -> ExtensionStatusDetail:
    return ExtensionStatusDetail(
        name=name,
        operation=operation,
        status=status,
        code=code,
        formatted_message=FormattedMessage(message=redact(message)),
    )


def missing(name: str, path: Path) -> ExtensionStatusDetail:
    return detail(
        name,
        "transitioning",
        0,
        "This status is being reported by the Guest Agent since no status file was reported by "
        f"extension {name}: {path} does not exist",
    )


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[int, int]
    value: ExtensionStatusDetail | None


class StatusReader:
    """Reads status files, caching each by (mtime, size)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._cache: dict[Path, _Cached] = {}

    def read(self, path: Path, name: str) -> ExtensionStatusDetail | None:
        """The status; a `missing()` one when there is no file; None for an empty array."""
        try:
            info = path.stat()
        except FileNotFoundError:
            self._cache.pop(path, None)
            return missing(name, path)
        except OSError as exc:
            return detail(
                name, "error", Code.UNKNOWN_FAILURE, f"cannot read {path}: {exc.strerror}"
            )
        stamp = (info.st_mtime_ns, info.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached.value
        value = self._parse(path, name, info)
        if isinstance(value, _Writing):
            return cached.value if cached is not None else missing(name, path)
        self._cache[path] = _Cached(stamp, value)
        return value

    def _parse(
        self, path: Path, name: str, info: os.stat_result
    ) -> ExtensionStatusDetail | _Writing | None:
        if info.st_size > MAX_READ:
            return detail(
                name,
                "error",
                Code.STATUS_INVALID,
                f"Could not get a valid status from the extension {name}. The status file is "
                f"{info.st_size} bytes, more than the {MAX_READ} read",
            )
        try:
            data, _ = read_regular_file(path, MAX_READ)
        except OSError as exc:
            return detail(
                name, "error", Code.UNKNOWN_FAILURE, f"cannot read {path}: {exc.strerror}"
            )
        try:
            return parse_status(data, name)
        except MalformedStatus as exc:
            if self.clock() - info.st_mtime < WRITING_GRACE:
                return _Writing()  # probably written half-way right now: look again later
            shown = data[:SHOWN_ON_ERROR].decode("utf-8", errors="replace")
            return detail(
                name,
                "error",
                Code.STATUS_INVALID,
                f"Could not get a valid status from the extension {name}. Encountered the "
                f"following error: {exc}. Status file content: {shown}",
            )


class _Writing:
    """A status file that does not parse yet but was just written: being written right now."""


def failure_detail(name: str, failure: ExtensionFailure) -> ExtensionStatusDetail:
    return detail(name, "error", failure.code, failure.message, failure.operation)
