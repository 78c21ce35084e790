"""Artifact downloads (§4.2): manifests, extension packages, the artifacts profile.

Each URI is tried on the default channel, then on the other (direct storage or HostGAPlugin);
when only the other one works it becomes the default. URIs are shuffled; the whole download has a
5-minute budget on the wall clock, so a host dripping the body cannot hold the caller longer. The
body streams into an unnamed file in wire's state directory, is verified for its kind, and is
handed over as a read-only file descriptor: large payloads never sit in memory and the receiver
cannot change what wire verified.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..common.models.download import DownloadKind as Kind
from . import xmldoc
from .errors import FabricError, HttpFailed, InvalidContainer, ResourceGone
from .hostplugin import HostPlugin
from .storage import Storage

log = logging.getLogger(__name__)

MAX_SIZE: dict[Kind, int] = {
    "manifest": 4 << 20,
    "package": 512 << 20,
    "artifacts-profile": 1 << 20,
}
BUDGET = 300.0


class DownloadFailed(FabricError):
    pass


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


def verify(kind: Kind, data: BinaryIO) -> Verdict:
    data.seek(0, os.SEEK_END)
    if data.tell() == 0:
        return Verdict(False, "empty body")
    data.seek(0)
    if kind == "package":
        if not zipfile.is_zipfile(data):
            return Verdict(False, "not a zip archive")
    elif kind == "manifest":
        try:
            xmldoc.parse(data.read(), "manifest")
        except FabricError as exc:
            return Verdict(False, str(exc))
    else:
        try:
            json.loads(data.read())
        except ValueError:
            return Verdict(False, "not JSON")
    return Verdict(True)


def _unnamed_file(directory: Path) -> BinaryIO:
    """A file with no name: nothing to clean up after a crash, nothing for others to open."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:
        fd, name = _named_then_unlinked(directory)
        del name
    return open(fd, "w+b", buffering=0)


def _named_then_unlinked(directory: Path) -> tuple[int, str]:
    name = str(directory / f".download.{os.getpid()}.{time.monotonic_ns()}")
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.unlink(name)
    return fd, name


def read_only_copy(file: BinaryIO) -> int:
    """A new read-only descriptor of the same (unnamed) file."""
    return os.open(f"/proc/self/fd/{file.fileno()}", os.O_RDONLY | os.O_CLOEXEC)


class Downloader:
    def __init__(
        self,
        storage: Storage,
        hostplugin: HostPlugin,
        refresh_container: Callable[[], Awaitable[object]],
        directory: Path,
        *,
        budget: float = BUDGET,
    ) -> None:
        if budget <= 0:
            raise ValueError(f"the download budget must be positive, not {budget!r}")
        self.storage = storage
        self.budget = budget
        self.hostplugin = hostplugin
        self.refresh_container = refresh_container
        self.directory = directory
        self.hostplugin_is_default = False
        self.manifest_url: str | None = None

    async def _direct(self, url: str, kind: Kind, sink: BinaryIO) -> None:
        await self.storage.get(url, what=f"{kind} (direct)", sink=sink, max_bytes=MAX_SIZE[kind])

    async def _through_hostplugin(
        self, url: str, kind: Kind, sink: BinaryIO, checked: bool
    ) -> None:
        if not await self.hostplugin.ensure_available():
            raise HttpFailed("HostGAPlugin is not available")
        manifest = self.manifest_url if kind == "package" else None
        for attempt in (1, 2):
            try:
                await self.hostplugin.artifact(
                    url,
                    sink=sink,
                    manifest_url=manifest,
                    verify_from_artifacts_blob=checked,
                    max_bytes=MAX_SIZE[kind],
                )
            except (ResourceGone, InvalidContainer):
                if attempt == 2:
                    raise
                await self.refresh_container()
            else:
                return

    async def _try(self, channel: str, url: str, kind: Kind, sink: BinaryIO, checked: bool) -> None:
        if channel == "hostplugin":
            await self._through_hostplugin(url, kind, sink, checked)
        else:
            await self._direct(url, kind, sink)
        verdict = verify(kind, sink)
        if not verdict.ok:
            raise HttpFailed(f"{kind} from {channel}: {verdict.reason}")

    async def download(self, uris: Sequence[str], kind: Kind, *, fast_track: bool = False) -> int:
        """Download one of `uris`; return a read-only fd of the verified file (caller closes).

        `fast_track`: for a Fast Track goal state, whose artifacts HostGAPlugin verifies against
        its artifacts blob (§4.1 x-ms-verify-from-artifacts-blob; not the artifacts profile)."""
        checked = fast_track and kind != "artifacts-profile"
        if not uris:
            raise DownloadFailed(f"no URI to download the {kind} from")
        candidates = list(uris)
        random.shuffle(candidates)
        errors: list[str] = []
        with _unnamed_file(self.directory) as sink:
            try:
                async with asyncio.timeout(self.budget):
                    return await self._first_good(candidates, kind, sink, errors, checked)
            except TimeoutError:
                last = errors[-1] if errors else "no answer yet"
                raise DownloadFailed(
                    f"Failed to download {kind}: the {self.budget:g} s download budget is spent. "
                    f"Last error: {last}"
                ) from None

    async def _first_good(
        self,
        candidates: Sequence[str],
        kind: Kind,
        sink: BinaryIO,
        errors: list[str],
        checked: bool,
    ) -> int:
        """Each URI on each channel until one gives a verified file; `errors` collects failures."""
        for url in candidates:
            primary, secondary = (
                ("hostplugin", "direct") if self.hostplugin_is_default else ("direct", "hostplugin")
            )
            for channel in (primary, secondary):
                try:
                    await self._try(channel, url, kind, sink, checked)
                except FabricError as exc:
                    errors.append(str(exc))
                    continue
                if channel == secondary:
                    self.hostplugin_is_default = channel == "hostplugin"
                    log.info(
                        "Default channel changed to %s channel.",
                        "HostGAPlugin" if self.hostplugin_is_default else "Direct",
                    )
                if kind == "manifest":
                    self.manifest_url = url
                return read_only_copy(sink)
        last = errors[-1] if errors else "no attempt made"
        raise DownloadFailed(f"Failed to download {kind} from all URIs. Last error: {last}")
