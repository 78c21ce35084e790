"""Documents wire and its resident poller both send, built in one place with the stdlib only.

The Health report (§2.6), TelemetryData batches (§2.6, §10.12), the HealthService observations
(§4.5) and the HostGAPlugin status envelope (§4.4). The poller (`waagent.wirepoll`) must not
import pydantic, so events and observations here are plain values; wire's models feed them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from .logs import redact
from .xml_text import escape, quoteattr

HEALTH_DESCRIPTION_LIMIT = 3686  # 10% under the WireServer's 4096-byte limit
TELEMETRY_BUFFER_LIMIT = 65024  # 2^16 - 2^10 bytes per POST
# Provider ids of the classic schemas (§10.12).
EVENTS_PROVIDER = "69B669B9-4AF8-4C50-BDC4-6006FA76E975"
MAX_MESSAGE = 3200  # the classic cap of an operation event's Message
STORAGE_VERSION = "2014-02-14"
PAGE = 512
MAX_PAGE_WRITE = 4 << 20

# HealthService (§4.5): field lengths are the service's limits; longer text is cut, not refused.
MAX_OBSERVATION_NAME = 64
MAX_OBSERVATION_TEXT = 128
MAX_OBSERVATIONS = 10  # the classic buffer

Param = str | int | bool | float


class Event(Protocol):
    """What a telemetry event needs to be sent (wire's TelemetryEvent, the poller's dicts)."""

    @property
    def provider_id(self) -> str: ...
    @property
    def event_id(self) -> int: ...
    @property
    def parameters(self) -> Mapping[str, Param]: ...


def operation_parameters(
    name: str, version: str, operation: str, success: bool, message: str, duration_ms: int = 0
) -> dict[str, Param]:
    """A GuestAgentExtensionEvents operation event's parameters, the message redacted and capped."""
    return {
        "Name": name,
        "Version": version,
        "Operation": operation,
        "OperationSuccess": success,
        "Message": redact(message)[:MAX_MESSAGE],
        "Duration": duration_ms,
        "ExtensionType": "",
        "IsInternal": False,
    }


def health_document(
    *,
    incarnation: str,
    container_id: str,
    role_instance_id: str,
    state: str,
    substatus: str = "",
    description: str = "",
) -> bytes:
    """The Health XML on one line; the description truncated before escaping, as classic."""
    details = ""
    if substatus:
        details = (
            f"<Details><SubStatus>{escape(substatus)}</SubStatus>"
            f"<Description>{escape(description[:HEALTH_DESCRIPTION_LIMIT])}</Description></Details>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<GoalStateIncarnation>{escape(incarnation)}</GoalStateIncarnation>"
        f"<Container><ContainerId>{escape(container_id)}</ContainerId>"
        f"<RoleInstanceList><Role><InstanceId>{escape(role_instance_id)}</InstanceId>"
        f"<Health><State>{escape(state)}</State>{details}</Health>"
        "</Role></RoleInstanceList></Container></Health>"
    ).encode()


def _param_type(value: object) -> tuple[str, str]:
    if isinstance(value, bool):
        return "mt:bool", "True" if value else "False"
    if isinstance(value, int):
        return "mt:uint64", str(value)
    if isinstance(value, float):
        return "mt:float64", repr(value)
    return "mt:wstr", str(value)


def event_xml(event: Event, common: Mapping[str, object]) -> str:
    params = []
    for name, value in {**event.parameters, **common}.items():
        kind, text = _param_type(value)
        params.append(
            f"<Param Name={quoteattr(name)} Value={quoteattr(text)} T={quoteattr(kind)} />"
        )
    return f'<Event id="{event.event_id}"><![CDATA[{"".join(params)}]]></Event>'


def telemetry_batches(
    events: Iterable[Event], common: Mapping[str, object]
) -> Iterator[tuple[bytes, int]]:
    """TelemetryData documents per provider, each under the size limit, with their event count.

    A single event that cannot fit on its own is dropped (classic does the same).
    """
    by_provider: dict[str, list[str]] = {}
    for event in events:
        by_provider.setdefault(event.provider_id, []).append(event_xml(event, common))
    for provider, items in by_provider.items():
        head = f'<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="{provider}">'
        tail = "</Provider></TelemetryData>"
        batch: list[str] = []
        size = len(head) + len(tail)
        for item in items:
            item_size = len(item.encode())
            if len(head) + len(tail) + item_size >= TELEMETRY_BUFFER_LIMIT:
                continue
            if size + item_size >= TELEMETRY_BUFFER_LIMIT:
                yield (head + "".join(batch) + tail).encode(), len(batch)
                batch, size = [], len(head) + len(tail)
            batch.append(item)
            size += item_size
        if batch:
            yield (head + "".join(batch) + tail).encode(), len(batch)


def observation(name: str, healthy: bool, description: str = "", value: str = "") -> dict[str, Any]:
    """One HealthService observation as the service takes it (cut to its limits, redacted)."""
    return {
        "ObservationName": name[:MAX_OBSERVATION_NAME],
        "IsHealthy": healthy,
        "Description": redact(description)[:MAX_OBSERVATION_TEXT],
        "Value": redact(value)[:MAX_OBSERVATION_TEXT],
    }


def health_service_document(observations: Sequence[Mapping[str, object]]) -> bytes:
    return json.dumps(
        {
            "Api": "reporttargethealth",
            "Version": "1.0",
            "Source": "WALinuxAgent",
            "Observations": list(observations[-MAX_OBSERVATIONS:]),
        }
    ).encode()


def storage_date() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status_envelope(uri: str, content: bytes | None, headers: Mapping[str, str]) -> bytes:
    """§4.4: a blob write wrapped for HostGAPlugin's PUT /status."""
    envelope: dict[str, object] = {
        "headers": [{"headerName": k, "headerValue": v} for k, v in headers.items()],
        "requestUri": uri,
    }
    if content is not None:
        envelope["content"] = base64.b64encode(content).decode()
    return json.dumps(envelope, sort_keys=True).encode()


def imds_health_verdict(body: bytes) -> str:
    """'' when the instance document has interface 0's first private IP and its MAC, else why not
    (the IMDS heartbeat, §4.6)."""
    try:
        nic = json.loads(body)["network"]["interface"][0]
        address = nic["ipv4"]["ipAddress"][0]["privateIpAddress"]
        mac = nic["macAddress"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "instance metadata lacks network.interface[0] with ipv4 and macAddress"
    if not isinstance(address, str) or not isinstance(mac, str):
        return "instance metadata lacks network.interface[0] with ipv4 and macAddress"
    if not address or not mac:
        return "instance metadata has an empty private IP or MAC address"
    return ""


def status_blob_writes(
    url: str, blob_type: str, content: bytes
) -> list[tuple[str, bytes | None, dict[str, str]]]:
    """The blob writes of one status upload through HostGAPlugin (§4.4): a block blob in one
    write, a page blob created then written in pages of at most 4 MiB, space-padded to 512."""
    if blob_type != "PageBlob":
        headers = {
            "Content-Length": str(len(content)),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-date": storage_date(),
            "x-ms-version": STORAGE_VERSION,
        }
        return [(url, content, headers)]
    content += b" " * (-len(content) % PAGE)  # HostGAPlugin page blobs: space padding
    writes: list[tuple[str, bytes | None, dict[str, str]]] = [
        (
            url,
            None,
            {
                "Content-Length": "0",
                "x-ms-blob-content-length": str(len(content)),
                "x-ms-blob-type": "PageBlob",
                "x-ms-date": storage_date(),
                "x-ms-version": STORAGE_VERSION,
            },
        )
    ]
    separator = "&" if "?" in url else "?"
    for start in range(0, len(content), MAX_PAGE_WRITE):
        page = content[start : start + MAX_PAGE_WRITE]
        end = start + len(page)
        writes.append(
            (
                f"{url}{separator}comp=page",
                page,
                {
                    "Content-Length": str(end - start),
                    "x-ms-date": storage_date(),
                    "x-ms-range": f"bytes={start}-{end - 1}",
                    "x-ms-page-write": "update",
                    "x-ms-version": STORAGE_VERSION,
                },
            )
        )
    return writes


def unhealthy_reports(
    observations: Sequence[Mapping[str, object]],
    plugin_failing_for: float | None,
    reported: dict[str, float],
    period: float,
    now: float,
) -> list[tuple[str, str]]:
    """(operation, message) of the telemetry for unhealthy HealthService observations and for a
    HostGAPlugin failing past its threshold (`plugin_failing_for` seconds, None while not): when
    it starts, then once every `period` while it lasts, not every minute. `reported` (key -> when
    last sent) is the caller's, kept between rounds."""

    def first_or_again(key: str, active: bool) -> bool:
        if not active:
            reported.pop(key, None)
            return False
        last = reported.get(key)
        if last is not None and now - last < period:
            return False
        reported[key] = now
        return True

    events = [
        ("HealthObservation", json.dumps(o))
        for o in observations
        if first_or_again(str(o["ObservationName"]), not o["IsHealthy"])
    ]
    if first_or_again("extended", plugin_failing_for is not None):
        events.append(
            (
                "HostPluginHeartbeatExtended",
                f"HostGAPlugin health check failing for {(plugin_failing_for or 0) / 60:.0f} min: "
                f"{observations[0]['Description']}",
            )
        )
    return events
