"""Reading what the agent sends: Health, TelemetryData, RoleProperties, JSON bodies.

Parsed with defusedxml, independently of the agent's own code. Each parser returns the record
fields (plain JSON values) or raises `ReportError`, which the fabric answers with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET


class ReportError(ValueError):
    """A request body the real service would refuse."""


def _xml(body: bytes, root: str) -> Element:
    try:
        document: Element = SafeET.fromstring(body.removeprefix(b"\xef\xbb\xbf"))
    except SafeET.ParseError as exc:
        raise ReportError(f"not well-formed XML: {exc}") from None
    except Exception as exc:  # defusedxml refuses entities and DTDs with its own errors
        raise ReportError(f"refused XML: {exc.__class__.__name__}") from None
    if document.tag != root:
        raise ReportError(f"expected <{root}>, got <{document.tag}>")
    return document


def _text(node: Element, path: str) -> str | None:
    found = node.find(path)
    return None if found is None else (found.text or "")


def health(body: bytes) -> dict[str, Any]:
    document = _xml(body, "Health")
    role = document.find("Container/RoleInstanceList/Role")
    if role is None:
        raise ReportError("Health has no Container/RoleInstanceList/Role")
    fields = {
        "incarnation": _text(document, "GoalStateIncarnation"),
        "container_id": _text(document, "Container/ContainerId"),
        "role_instance_id": _text(role, "InstanceId"),
        "state": _text(role, "Health/State"),
        "substatus": _text(role, "Health/Details/SubStatus"),
        "description": _text(role, "Health/Details/Description"),
        "raw": body.decode("utf-8", "replace"),
    }
    if fields["state"] not in ("Ready", "NotReady"):
        raise ReportError(f"Health/State must be Ready or NotReady, not {fields['state']!r}")
    return fields


_PARAM_TYPES: dict[str, Callable[[str], Any]] = {
    "mt:uint64": int,
    "mt:float64": float,
    "mt:bool": lambda value: value.lower() == "true",
}


def _param_value(kind: str | None, value: str) -> Any:
    convert = _PARAM_TYPES.get(kind or "")
    if convert is None:
        return value
    try:
        return convert(value)
    except ValueError:
        return value


def telemetry(body: bytes) -> list[dict[str, Any]]:
    """One entry per Provider: {provider_id, events: [{event_id, params}]}."""
    document = _xml(body, "TelemetryData")
    providers = []
    for provider in document.findall("Provider"):
        events = []
        for event in provider.findall("Event"):
            # The parameters are an XML fragment inside CDATA.
            fragment = ("<Params>" + (event.text or "") + "</Params>").encode()
            params = {
                param.get("Name", ""): _param_value(param.get("T"), param.get("Value", ""))
                for param in _xml(fragment, "Params").findall("Param")
            }
            events.append({"event_id": event.get("id"), "params": params})
        providers.append({"provider_id": provider.get("id"), "events": events})
    if not providers:
        raise ReportError("TelemetryData has no Provider")
    return providers


def role_properties(body: bytes) -> dict[str, Any]:
    document = _xml(body, "RoleProperties")
    instance = document.find("Container/RoleInstances/RoleInstance")
    if instance is None:
        raise ReportError("RoleProperties has no Container/RoleInstances/RoleInstance")
    return {
        "container_id": _text(document, "Container/ContainerId"),
        "role_instance_id": _text(instance, "Id"),
        "properties": {
            prop.get("name", ""): prop.get("value", "")
            for prop in instance.findall("Properties/Property")
        },
    }


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ReportError("expected a JSON object")
    return value


def status_envelope(body: bytes) -> tuple[str, dict[str, str], bytes]:
    """HostGAPlugin PUT /status: (requestUri, headers lowercased, decoded content)."""
    envelope = json_object(body)
    uri = envelope.get("requestUri")
    if not isinstance(uri, str) or not uri:
        raise ReportError("status envelope has no requestUri")
    headers: dict[str, str] = {}
    for header in envelope.get("headers") or []:
        if not isinstance(header, dict) or "headerName" not in header:
            raise ReportError(f"bad status envelope header: {header!r}")
        headers[str(header["headerName"]).lower()] = str(header.get("headerValue", ""))
    try:
        content = base64.b64decode(envelope.get("content") or "", validate=True)
    except (binascii.Error, TypeError) as exc:
        raise ReportError(f"status envelope content is not base64: {exc}") from None
    return uri, headers, content
