"""Documents the agent sends: the Health report (§2.6) and TelemetryData batches (§2.6, §10.12)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from xml.sax.saxutils import escape, quoteattr

from ..common.models.events import TelemetryEvent

HEALTH_DESCRIPTION_LIMIT = 3686  # 10% under the WireServer's 4096-byte limit
TELEMETRY_BUFFER_LIMIT = 65024  # 2^16 - 2^10 bytes per POST


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


def event_xml(event: TelemetryEvent, common: Mapping[str, object]) -> str:
    params = []
    for name, value in {**event.parameters, **common}.items():
        kind, text = _param_type(value)
        params.append(
            f"<Param Name={quoteattr(name)} Value={quoteattr(text)} T={quoteattr(kind)} />"
        )
    return f'<Event id="{event.event_id}"><![CDATA[{"".join(params)}]]></Event>'


def telemetry_batches(
    events: Iterable[TelemetryEvent], common: Mapping[str, object]
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
