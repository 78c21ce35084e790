"""Full wire and its resident poller (`waagent.wirepoll`): the hand-off both ways.

With `--with-poller` wire exits when idle. Before it goes, it leaves the poller what the poller
needs (`poll_state.json`: the goal state's hash, the vmSettings ETag, the status to refresh, the
heartbeat timers and counters) and lets go of `wire.lock`. When it starts again it takes the lock
(waiting for a poller round in flight) and takes the timers and counters back, so a heartbeat is
neither sent twice nor skipped and extd is told about the cached goal state once per boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path

from ..wirepoll import state as poll
from .agent import Wire
from .fast_track import Support
from .remote_access import RemoteAccessDelivery

log = logging.getLogger(__name__)

LOCK_WAIT = 60.0  # a poller round lasts a few requests of 15 s at most


class PollerHandoff:
    def __init__(
        self, wire: Wire, directory: Path, remote_access: RemoteAccessDelivery | None = None
    ) -> None:
        self.wire = wire
        self.directory = directory
        self.remote_access = remote_access
        self.boot = poll.boot_id()
        self._lock_fd: int | None = None

    async def take_over(self) -> None:
        """Hold `wire.lock` (after the poller's round in flight), then resume its timers."""
        fd = os.open(self.directory / poll.LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("the poller keeps %s; polling anyway", poll.LOCK_FILE)
                    break
                await asyncio.sleep(0.05)
        self._lock_fd = fd
        previous = poll.load(self.directory)
        if previous is None or previous.boot_id != self.boot:
            return
        beats = self.wire.heartbeats
        if previous.heartbeat_id:
            beats.heartbeat_id = previous.heartbeat_id
            beats.counter = previous.heartbeat_counter
            beats.goal_state_errors += previous.goal_state_errors
        now = time.monotonic()
        if previous.next_check:  # no round before its time, none skipped (at most one now)
            beats.resume(
                next_check=max(previous.next_check, now),
                next_telemetry=max(previous.next_telemetry, now),
                host_plugin_since=previous.host_plugin_failing_since,
                imds_since=previous.imds_failing_since,
            )
        if previous.extensions_told_boot == self.boot:
            self.wire.extensions_told()
        gate = self.wire.provisioning
        if previous.provisioned_boot == self.boot and gate is not None:
            gate.done_this_boot()
        if previous.jit_users_cleared_boot == self.boot and self.remote_access is not None:
            self.remote_access.cleared_this_boot()

    def busy(self) -> bool:
        """Work only full wire finishes: it stays until it is done."""
        wire = self.wire
        return bool(
            wire.goal_state.held is not None
            or wire.status.dirty
            or wire.contact.problem.text
            or wire.telemetry.queue
            or wire.heartbeats.running()
        )

    def state(self) -> poll.PollState:
        wire = self.wire
        beats, status = wire.heartbeats, wire.status
        connection = wire.connection
        identity = wire.goal_state.container_identity()
        extensions = wire.goal_state.extensions
        blob = extensions.status_upload_blob if extensions else None
        raw = wire.goal_state.seen_raw
        common = wire.telemetry.common()
        for moving in ("OpcodeName", "EventPid"):
            common.pop(moving, None)
        now = time.monotonic()
        uploaded = status.uploaded_at
        gate = wire.provisioning
        cleared = self.remote_access is not None and self.remote_access.cleared
        return poll.PollState(
            boot_id=self.boot,
            endpoint=connection.address,
            imds_endpoint=wire.config.protocol_imds_endpoint,
            goal_state_period=float(wire.config.extensions_goal_state_period),
            status_refresh_period=float(status.refresh_period),
            heartbeat_period=beats.periods.check,
            host_plugin_unhealthy=beats.periods.host_plugin_unhealthy,
            imds_unhealthy=beats.periods.imds_unhealthy,
            telemetry_period=beats.periods.telemetry,
            goal_state_sha256=hashlib.sha256(raw).hexdigest() if raw else "",
            incarnation=wire.observable.incarnation,
            container_id=identity.container_id,
            role_config_name=identity.role_config_name,
            vm_settings=wire.fast_track.enabled and wire.fast_track.support == Support.SUPPORTED,
            etag=wire.fast_track.etag or "",
            status=(
                poll.StatusBlob(blob.url, blob.blob_type, json.dumps(status.vm_status().to_json()))
                if blob is not None
                else None
            ),
            host_plugin_available=connection.hostplugin.available,
            telemetry_common=common,
            heartbeat_id=beats.heartbeat_id,
            heartbeat_counter=beats.counter,
            goal_state_errors=beats.goal_state_errors,
            update_mode=wire.agent_update.mode(extensions),
            monitor_hostname=wire.config.provisioning_monitor_host_name,
            hostname=socket.gethostname(),
            io_errors=dict(connection.wireserver.http.io_errors.counts),
            next_goal_state=now + wire.config.extensions_goal_state_period,
            next_status=now if uploaded is None else uploaded + status.refresh_period,
            next_check=beats.next_check,
            next_telemetry=beats.next_telemetry,
            host_plugin_failing_since=beats.host_plugin.since,
            imds_failing_since=beats.imds.since,
            extensions_told_boot=self.boot if wire.told_extensions else "",
            provisioned_boot=self.boot if gate is not None and gate.is_open() else "",
            jit_users_cleared_boot=self.boot if cleared else "",
        )

    async def hand_back(self) -> None:
        """At exit: the poller's state, then the lock (the poller's next round takes it)."""
        try:
            poll.save(self.directory, self.state())
            log.info("left the polling to waagent-wirepoll")
        except OSError as exc:
            log.warning("cannot write %s: %s", poll.STATE_FILE, exc.strerror or exc)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
