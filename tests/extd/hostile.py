"""Hostile inputs for extd's tests: zips no honest publisher makes, settings that do not parse.

The fabric simulator serves a package file byte for byte (`HandlerVersion.package`) and
settings text as written (`settings_text`); these helpers publish hostile ones through its public
control API. Everything after that is real: HTTP, wire, the bus.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterable

from .system import PROBE_DIR, System

Entry = tuple[str, bytes, int]  # name, content, st_mode


def probe_files() -> list[Entry]:
    return [
        (
            "HandlerManifest.json",
            (PROBE_DIR / "HandlerManifest.json").read_bytes(),
            stat.S_IFREG | 0o644,
        ),
        ("probe.py", (PROBE_DIR / "probe.py").read_bytes(), stat.S_IFREG | 0o755),
    ]


def make_zip(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def bomb(size: int = 1200 << 20) -> bytes:
    """A valid handler package plus one file of `size` zero bytes: about 1 MB zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in probe_files():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            archive.writestr(info, data)
        info = zipfile.ZipInfo("zeros.bin", (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as sink:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                sink.write(block)
    return buffer.getvalue()


def serve_package(system: System, handler: str, data: bytes, version: str = "1.0.0") -> None:
    """The fabric serves `data` as the package of `handler` `version`."""
    package = system.env.base / f"{handler}__{version}.zip"
    package.write_bytes(data)
    system.fabric.update_extension(handler, version, package=package)


def serve_settings_text(system: System, handler: str, text: str) -> None:
    """The fabric writes `text` as the RuntimeSettings of `handler`."""
    system.fabric.set_extension_settings(handler, text=text)
