"""The poller's schedule: what it does every period, and what makes it wake full wire.

Every `goal_state_period`: GoalState.xml (its bytes against the hash wire left: any change wakes
wire) and, when Fast Track is supported, vmSettings with If-None-Match (304: nothing to do; a new
ETag, 404 or 410 wakes wire). Every `status_refresh_period`: the status wire left, its timestamp
moved, through HostGAPlugin. Every `heartbeat_period`: HostGAPlugin /health, IMDS health, one
HealthService POST (as wire's `heartbeats.py`). Every `telemetry_period`: the HeartBeat event.
What only full wire does (a status upload to storage directly, a fabric away for a minute,
rediscovery) wakes it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .. import AGENT_NAME, AGENT_VERSION
from ..common import telemetry_xml
from .http import Http, Reply, TransportError
from .state import PollState


def _sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256: hashlib would map OpenSSL's libcrypto (~4 MiB RSS) in a resident
    process for one hash per poll. Builds without it (FIPS) get OpenSSL's."""
    for module in ("_sha256", "_sha2"):  # CPython <= 3.11, >= 3.12
        with contextlib.suppress(ImportError):
            return importlib.import_module(module).sha256  # type: ignore[no-any-return]
    import hashlib

    return hashlib.sha256


sha256 = _sha256()

log = logging.getLogger(__name__)

# The protocol's constants, as wire's modules name them (tests/unit/wirepoll checks they agree).
WIRE_PROTOCOL_VERSION = "2012-11-30"  # wire.documents
HOSTPLUGIN_PORT = 32526  # wire.hostplugin.PORT
HOSTPLUGIN_API = "2015-09-01"  # wire.hostplugin.API_VERSION
IMDS_API = "2021-02-01"  # wire.imds.API_VERSION
IMDS_HEALTH_AGENT = f"{AGENT_NAME}/{AGENT_VERSION}+health"  # wire.imds.HEALTH_AGENT
AGENT_HEADERS = {"x-ms-agent-name": AGENT_NAME, "x-ms-version": WIRE_PROTOCOL_VERSION}
XML_CONTENT = {"Content-Type": "text/xml;charset=utf-8"}
WAKE_AFTER_FAILING = 60.0  # the goal state failing this long: full wire rediscovers (agent.py)


class Event:
    """A telemetry event for `telemetry_xml` (wire's TelemetryEvent without pydantic)."""

    provider_id = telemetry_xml.EVENTS_PROVIDER
    event_id = 1

    def __init__(self, operation: str, success: bool, message: str) -> None:
        self.parameters = telemetry_xml.operation_parameters(
            AGENT_NAME, AGENT_VERSION, operation, success, message
        )


class HttpStatus(Exception):
    pass


class Duties:
    def __init__(
        self, state: PollState, http: Http, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.state, self.http, self.clock = state, http, clock
        http.endpoint = state.endpoint
        http.io_errors = dict(state.io_errors)  # wire's counts go on; saved back from here
        self._goal_state_failing_since: float | None = None
        self._status_observation: dict[str, object] | None = None
        self.requests: dict[str, int] = {}  # by duty, for the bench and the tests
        self.changed = False

    # ---- the schedule ------------------------------------------------------------------------

    def next_at(self) -> float:
        """The next wake-up: the goal-state poll's (every other duty rides on one, below)."""
        return self.state.next_goal_state

    def run_due(self) -> str | None:
        """Every duty that is due; the reason to wake full wire, if one came up.

        The process wakes once per goal-state period only: a duty due before the next poll runs
        with this one (at most one period early, on its own grid all the same), so heartbeats and
        the status refresh cost no wake-up of their own. `changed`: something worth saving."""
        s, now = self.state, self.clock()
        reason = None
        if now < s.next_goal_state:
            return None
        s.next_goal_state = following(s.next_goal_state, s.goal_state_period, now)
        errors = s.goal_state_errors
        reason = self.goal_state(now) or (self.vm_settings() if s.vm_settings else None)
        self.changed = s.goal_state_errors != errors
        horizon = s.next_goal_state
        if reason is None and s.status is not None and horizon > s.next_status:
            s.next_status = following(s.next_status, s.status_refresh_period, now)
            reason = self.status()
            self.changed = True
        if horizon > s.next_check:
            s.next_check = following(s.next_check, s.heartbeat_period, now)
            self.check(now)
            self.changed = True
        if horizon > s.next_telemetry:
            s.next_telemetry = following(s.next_telemetry, s.telemetry_period, now)
            self.send_telemetry()
            self.changed = True
        return reason

    def _request(
        self,
        kind: str,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None = None,
        *,
        ok: tuple[int, ...] = (),
    ) -> Reply:
        """One request; with `ok`, any other status raises HttpStatus."""
        self.requests[kind] = self.requests.get(kind, 0) + 1
        reply = self.http.request(method, url, headers, body)
        if ok and reply.status not in ok:
            raise HttpStatus(f"{kind}: HTTP {reply.status}")
        return reply

    # ---- the goal state ---------------------------------------------------------------------

    def goal_state(self, now: float) -> str | None:
        s = self.state
        try:
            reply = self._request(
                "goalstate",
                "GET",
                f"http://{s.endpoint}/machine/?comp=goalstate",
                AGENT_HEADERS,
                ok=(200,),
            )
        except (TransportError, HttpStatus) as exc:
            s.goal_state_errors += 1
            since = self._goal_state_failing_since
            if since is None:
                log.warning("%s", exc)
                self._goal_state_failing_since = since = now
            return f"goal state failing: {exc}" if now - since >= WAKE_AFTER_FAILING else None
        self._goal_state_failing_since = None
        if sha256(reply.body).hexdigest() != s.goal_state_sha256:
            return "new goal state"
        return None

    def _host_plugin_headers(self) -> dict[str, str]:
        s = self.state
        return {
            "x-ms-version": HOSTPLUGIN_API,
            "x-ms-containerid": s.container_id,
            "x-ms-host-config-name": s.role_config_name,
        }

    @property
    def _host_plugin(self) -> str:
        return f"http://{self.state.endpoint}:{HOSTPLUGIN_PORT}"

    def vm_settings(self) -> str | None:
        """304 is the idle answer; only what changes the Fast Track goal state wakes wire."""
        headers = {
            **self._host_plugin_headers(),
            "x-ms-client-correlationid": str(uuid.uuid4()),
        }
        if self.state.etag:
            headers["if-none-match"] = self.state.etag
        try:
            reply = self._request("vmsettings", "GET", f"{self._host_plugin}/vmSettings", headers)
        except TransportError as exc:
            log.debug("vmSettings: %s", exc)
            return None
        if reply.status == 200 and reply.headers.get("etag", "") != self.state.etag:
            return "new vmSettings"
        if reply.status in (404, 410):
            return f"vmSettings: HTTP {reply.status}"
        return None

    # ---- the status -------------------------------------------------------------------------

    def status(self) -> str | None:
        """The status wire left, refreshed; a failure is full wire's (it uploads to storage)."""
        blob = self.state.status
        assert blob is not None
        try:
            document = json.loads(blob.content)
            document["timestampUTC"] = telemetry_xml.storage_date()
            content = json.dumps(document).encode()
            if not self._host_plugin_available():
                return "HostGAPlugin unavailable for the status"
            for uri, data, headers in telemetry_xml.status_blob_writes(
                blob.url, blob.blob_type, content
            ):
                self._request(
                    "hgap-status",
                    "PUT",
                    f"{self._host_plugin}/status",
                    {**self._host_plugin_headers(), "Content-type": "application/json"},
                    telemetry_xml.status_envelope(uri, data, headers),
                    ok=(200, 201),
                )
        except (TransportError, HttpStatus, ValueError) as exc:
            self._status_observation = telemetry_xml.observation(
                "GuestAgentPluginStatus", False, str(exc)
            )
            return f"status upload failed: {exc}"
        self._status_observation = telemetry_xml.observation("GuestAgentPluginStatus", True)
        return None

    def _host_plugin_available(self) -> bool:
        """/versions must mention 2015-09-01; once it did, it is not asked again (§4.1)."""
        s = self.state
        if not s.host_plugin_available:
            reply = self._request(
                "hgap-versions",
                "GET",
                f"{self._host_plugin}/versions",
                {"x-ms-containerid": s.container_id},
            )
            s.host_plugin_available = HOSTPLUGIN_API.encode() in reply.body
        return s.host_plugin_available

    # ---- the heartbeats ---------------------------------------------------------------------

    def check(self, now: float) -> None:
        s = self.state
        plugin_ok, plugin_why = self._host_plugin_health()
        imds_ok, imds_why = self._imds_health()
        s.host_plugin_failing_since = failing_since(s.host_plugin_failing_since, plugin_ok, now)
        s.imds_failing_since = failing_since(s.imds_failing_since, imds_ok, now)
        plugin_long = longer_than(s.host_plugin_failing_since, s.host_plugin_unhealthy, now)
        observations = [
            telemetry_xml.observation("GuestAgentPluginHeartbeat", not plugin_long, plugin_why),
            telemetry_xml.observation(
                "InstanceMetadataHeartbeat",
                not longer_than(s.imds_failing_since, s.imds_unhealthy, now),
                imds_why,
            ),
        ]
        if self._status_observation is not None:
            observations.append(self._status_observation)
            self._status_observation = None
        self._report_unhealthy(observations, plugin_long, now)
        try:
            reply = self._request(
                "healthservice",
                "POST",
                f"http://{s.endpoint}/HealthService",
                {"Content-Type": "application/json"},
                telemetry_xml.health_service_document(observations),
            )
            if reply.status not in (200, 201, 202):
                log.debug("HealthService: HTTP %d", reply.status)
        except TransportError as exc:
            log.debug("HealthService: %s", exc)

    def _host_plugin_health(self) -> tuple[bool, str]:
        try:
            if not self._host_plugin_available():
                log.debug("HostGAPlugin versions lack %s", HOSTPLUGIN_API)
            reply = self._request("hgap-health", "GET", f"{self._host_plugin}/health", {})
        except TransportError as exc:
            return False, str(exc)
        if reply.status != 200:
            return False, f"HostGAPlugin health: HTTP {reply.status}"
        return True, ""

    def _imds_health(self) -> tuple[bool, str]:
        """Only IMDS's own answers count against it; no answer at all is the network's."""
        url = f"http://{self.state.imds_endpoint}/metadata/instance?api-version={IMDS_API}"
        try:
            reply = self._request(
                "imds", "GET", url, {"Metadata": "true", "User-Agent": IMDS_HEALTH_AGENT}
            )
        except TransportError as exc:
            return True, str(exc)
        if reply.status != 200:
            return False, f"instance metadata health: HTTP {reply.status}"
        why = telemetry_xml.imds_health_verdict(reply.body)
        return not why, why

    def _report_unhealthy(
        self, observations: list[dict[str, object]], plugin_long: bool, now: float
    ) -> None:
        """As wire's heartbeats: when a problem starts, then once a telemetry period."""
        s = self.state
        failing_for = now - (s.host_plugin_failing_since or now) if plugin_long else None
        events = telemetry_xml.unhealthy_reports(
            observations, failing_for, s.unhealthy_reported, s.telemetry_period, now
        )
        if events:
            self.send([Event(operation, False, message) for operation, message in events])

    # ---- telemetry ----------------------------------------------------------------------------

    def send_telemetry(self) -> None:
        s = self.state
        text = (
            f"HeartbeatCounter: {s.heartbeat_counter};HeartbeatId: {s.heartbeat_id};"
            f"UpdateGSErrors: {s.goal_state_errors};AutoUpdate: 0;UpdateMode: {s.update_mode};"
        )
        log.info("[HEARTBEAT] Agent %s-%s is running: %s", AGENT_NAME, AGENT_VERSION, text)
        events = [Event("HeartBeat", True, text)]
        s.heartbeat_counter += 1
        s.goal_state_errors = 0
        counts = {k: self.http.io_errors.get(k, 0) for k in IO_CLASSES}
        self.http.io_errors.clear()
        if any(counts.values()):
            events.append(Event("HttpErrors", True, ";".join(f"{k}:{counts[k]}" for k in counts)))
        self.send(events)

    def send(self, events: list[Event]) -> None:
        common = {
            **self.state.telemetry_common,
            "OpcodeName": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "EventPid": os.getpid(),
        }
        for document, count in telemetry_xml.telemetry_batches(events, common):
            try:
                self._request(
                    "telemetry",
                    "POST",
                    f"http://{self.state.endpoint}/machine?comp=telemetrydata",
                    {**AGENT_HEADERS, **XML_CONTENT},
                    document,
                    ok=(200, 201, 202),
                )
            except (TransportError, HttpStatus) as exc:
                log.warning("telemetry not sent (%d events dropped): %s", count, exc)


IO_CLASSES = ("hostplugin", "protocol", "other")  # wire.http.IO_ERROR_CLASSES


def following(due: float, period: float, now: float) -> float:
    """The next due time on the same grid (wire's heartbeats._next): after a long pause, now."""
    nxt = due + period
    return nxt if nxt > now else now + period


def failing_since(since: float | None, ok: bool, now: float) -> float | None:
    return None if ok else (since if since is not None else now)


def longer_than(since: float | None, threshold: float, now: float) -> bool:
    return since is not None and now - since >= threshold
