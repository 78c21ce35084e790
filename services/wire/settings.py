"""A RuntimeSettings element parsed once, in wire: its seqNo as a number, its settings as values.

Nothing here is judged: what cannot be used (a seqNo that is no number, a document that is not
JSON, nests too deep or lacks handlerSettings) is kept as a problem on the element, and extd
reports it on that handler alone, as §9.1 asks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..common.models.extensions import RuntimeSettings, quote

log = logging.getLogger(__name__)

# Settings deeper than this are refused: extd writes them with json.dumps, which recurses, and
# they cross the bus as JSON (classic settings are a few levels deep).
MAX_DEPTH = 100
TOO_DEEP = f"the settings are nested more than {MAX_DEPTH} levels deep"


class SettingsProblem(ValueError):
    """Why a settings document cannot be used (one line)."""


def depth(document: Any) -> int:
    """How deep lists and objects nest in a parsed document (without recursing)."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(document, 0)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level + 1)
            if deepest > MAX_DEPTH:
                break
            children = value.values() if isinstance(value, dict) else value
            todo.extend((child, level + 1) for child in children)
    return deepest


def handler_settings(text: str) -> dict[str, Any]:
    """The first `runtimeSettings[].handlerSettings` of a settings document ({} for none)."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SettingsProblem(f"the settings are not valid JSON ({exc})") from None
    except RecursionError:
        raise SettingsProblem(TOO_DEEP) from None
    if depth(document) > MAX_DEPTH:
        raise SettingsProblem(TOO_DEEP)
    runtime = document.get("runtimeSettings") if isinstance(document, dict) else None
    if not isinstance(runtime, list) or not runtime:
        raise SettingsProblem("the settings have no runtimeSettings list")
    first = runtime[0]
    handler = first.get("handlerSettings") if isinstance(first, dict) else None
    if not isinstance(handler, dict):
        raise SettingsProblem("the settings have no runtimeSettings[].handlerSettings")
    if len(runtime) > 1:
        log.warning("only the first of %d runtimeSettings is used", len(runtime))
    return handler


def _optional_str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise SettingsProblem(f"{what} is not a string")


def _seq_no(text: str | None) -> tuple[int | None, str | None]:
    if text is None or not text.strip():
        return None, "is missing"
    try:
        return int(text.strip()), None
    except ValueError:
        return None, f"{quote(text)} is not a number"


def runtime_settings(
    seq_no: str | None, name: str | None, state: str | None, text: str
) -> RuntimeSettings:
    number, seq_no_problem = _seq_no(seq_no)
    bare = RuntimeSettings(seq_no=number, seq_no_problem=seq_no_problem, name=name, state=state)
    try:
        handler = handler_settings(text)
        return bare.model_copy(
            update={
                "public_settings": handler.get("publicSettings"),
                "protected_settings": _optional_str(
                    handler.get("protectedSettings"), "protectedSettings"
                ),
                "thumbprint": _optional_str(
                    handler.get("protectedSettingsCertThumbprint"),
                    "protectedSettingsCertThumbprint",
                ),
            }
        )
    except SettingsProblem as exc:
        return bare.model_copy(update={"settings_problem": str(exc)})
