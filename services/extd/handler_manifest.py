"""HandlerManifest.json with the classic field rules (reference §9.4).

A JSON array whose first element describes the handler: its commands (paths relative to the
handler directory), the update mode, and three flags that accept a boolean or the string "true"
(anything else is false, and said in the log).
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import Code, ExtensionError

log = logging.getLogger(__name__)

FILE_NAME = "HandlerManifest.json"
# A manifest is a few hundred bytes; more is not a manifest (and is not read into memory).
MAX_SIZE = 1 << 20
Operation = Literal["install", "uninstall", "update", "enable", "disable"]
OPERATIONS: tuple[Operation, ...] = ("install", "uninstall", "update", "enable", "disable")


@dataclass(frozen=True)
class ResourceLimits:
    cpu_quota_percentage: int | None = None
    memory_quota_mb: int | None = None


@dataclass(frozen=True)
class HandlerManifest:
    name: str
    commands: dict[str, str]
    report_heartbeat: bool = False
    update_with_install: bool = True
    continue_on_update_failure: bool = False
    supports_multiple_extensions: bool = False
    limits: ResourceLimits = ResourceLimits()

    def command(self, operation: Operation) -> str | None:
        return self.commands.get(operation)


def _flag(section: dict[str, Any], key: str, where: str) -> bool:
    value = section.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() == "true":
        return True
    if value not in (None, "", "false", "False"):
        log.warning("%s: %s is %.100r, not a boolean; taken as false", where, key, value)
    return False


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value <= 0:  # JSON may say Infinity or NaN
        return None
    return int(value)


def parse_handler_manifest(text: str, where: str = FILE_NAME) -> HandlerManifest:
    """Raise ExtensionError 1003 when the document is not a usable manifest."""
    try:
        document = json.loads(text.removeprefix("\ufeff"))
    except ValueError as exc:
        raise ExtensionError(
            Code.HANDLER_MANIFEST_MALFORMED, f"{where} is not valid JSON: {exc}"
        ) from None
    except RecursionError:
        raise ExtensionError(
            Code.HANDLER_MANIFEST_MALFORMED, f"{where} is nested too deeply"
        ) from None
    if isinstance(document, list):
        document = document[0] if document else None
    if not isinstance(document, dict):
        raise ExtensionError(
            Code.HANDLER_MANIFEST_MALFORMED, f"{where} does not describe a handler"
        )
    section = document.get("handlerManifest")
    if not isinstance(section, dict):
        raise ExtensionError(
            Code.HANDLER_MANIFEST_MALFORMED, f"{where} has no handlerManifest object"
        )
    commands: dict[str, str] = {}
    for operation in OPERATIONS:
        value = section.get(f"{operation}Command")
        if isinstance(value, str) and value.strip():
            commands[operation] = value.strip()
    if "enable" not in commands:
        raise ExtensionError(Code.HANDLER_MANIFEST_MALFORMED, f"{where} has no enableCommand")
    limits = document.get("resourceLimits")
    limits = limits if isinstance(limits, dict) else {}
    return HandlerManifest(
        name=str(document.get("name", "")),
        commands=commands,
        report_heartbeat=_flag(section, "reportHeartbeat", where),
        update_with_install=section.get("updateMode", "UpdateWithInstall")
        != "UpdateWithoutInstall",
        continue_on_update_failure=_flag(section, "continueOnUpdateFailure", where),
        supports_multiple_extensions=_flag(section, "supportsMultipleExtensions", where),
        limits=ResourceLimits(
            cpu_quota_percentage=_positive_int(limits.get("cpuQuotaPercentage")),
            memory_quota_mb=_positive_int(limits.get("memoryQuotaInMB")),
        ),
    )


def load_handler_manifest(handler_dir: Path) -> HandlerManifest:
    """Raise ExtensionError 1002 when the file is missing or unreadable, 1003 when malformed."""
    try:
        data = _read(handler_dir / FILE_NAME)
    except OSError as exc:
        raise ExtensionError(
            Code.HANDLER_MANIFEST_NOT_FOUND, f"{FILE_NAME} not found in the package: {exc.strerror}"
        ) from None
    return parse_handler_manifest(data.decode("utf-8", errors="replace"))


def _read(path: Path) -> bytes:
    """The manifest's bytes: a regular file, not through a link (unpacking put a file there),
    and not larger than MAX_SIZE (1003)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ExtensionError(Code.HANDLER_MANIFEST_MALFORMED, f"{FILE_NAME} is not a file")
        data = file.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise ExtensionError(
            Code.HANDLER_MANIFEST_MALFORMED, f"{FILE_NAME} is larger than {MAX_SIZE} bytes"
        )
    return data
