"""`waagent -collect-logs [-full]`: build the log bundle and hand it to wire for the upload.

The zip is built in an unnamed temporary file (gone when the command ends, even if it is
killed) and crosses the bus as a file descriptor to `org.waagent.Wire1.UploadLogs`, which polkit
guards with `org.waagent.collect-logs`; the call allows interactive authorization, so an admin
may be asked for a password.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import IO, TextIO

from ..common.bus.client import call
from ..common.commands import Runner
from ..common.config import AgentConfig
from ..common.errors import WaagentError
from ..common.names import WIRE
from ..common.root import Root
from . import log_manifest
from .busquery import connect
from .log_bundle import Bundle, Caps, LogCollector

# polkit may wait for a password, then wire sends up to 100 MiB to the HostGAPlugin.
UPLOAD_TIMEOUT = 600.0


def scratch_file(root: Root, config: AgentConfig) -> IO[bytes]:
    """An unnamed file in `<Lib.Dir>/logcollector` (a disk, not a small /tmp), else in /tmp."""
    try:
        directory = root.makedirs(f"{config.lib_dir.rstrip('/')}/logcollector", 0o700)
        return tempfile.TemporaryFile(dir=directory)
    except OSError:
        return tempfile.TemporaryFile()


async def upload(bundle_file: IO[bytes]) -> int:
    bundle_file.flush()
    bundle_file.seek(0)
    bus = await connect()
    try:
        reply = await call(
            bus,
            WIRE,
            "UploadLogs",
            "h",
            [0],
            unix_fds=[bundle_file.fileno()],
            interactive=True,
            timeout=UPLOAD_TIMEOUT,
        )
    finally:
        bus.disconnect()
    return int(reply.body[0])


async def collect_and_upload(
    root: Root, config: AgentConfig, full: bool, caps: Caps | None = None
) -> tuple[Bundle, int]:
    manifest = log_manifest.FULL if full else log_manifest.NORMAL
    with scratch_file(root, config) as out:
        bundle = await LogCollector(root, config, Runner(), caps).build(manifest, out)
        return bundle, await upload(out)


def run(
    root: Root,
    config: AgentConfig,
    full: bool,
    *,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    try:
        bundle, uploaded = asyncio.run(collect_and_upload(root, config, full))
    except WaagentError as exc:
        stderr.write(f"waagent: {exc.message}\n")
        return 1
    except OSError as exc:
        stderr.write(f"waagent: cannot collect the logs: {exc.strerror or exc}\n")
        return 1
    stdout.write(
        f"Uploaded a log bundle of {uploaded} bytes: {len(bundle.files)} files"
        f" ({bundle.uncompressed} bytes before compression), {len(bundle.left_out)} left out\n"
    )
    return 0
