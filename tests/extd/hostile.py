"""Hostile inputs for extd's tests: zips no honest publisher makes, settings that do not parse.

The fabric simulator zips handler directories and writes well-formed settings; these helpers put
a hostile package or settings text in place for one handler, at the simulator's rendering step
(in-process, with pytest's monkeypatch). Everything after that is real: HTTP, wire, the bus.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterable
from typing import Any

import pytest

from waagent.fabric import extension_documents, packages

from .system import PROBE_DIR

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


def serve_package(monkeypatch: pytest.MonkeyPatch, handler: str, data: bytes) -> None:
    """The fabric serves `data` as every package of `handler`."""
    original = packages.build

    def build(name: str, published: Any) -> bytes:
        return data if name == handler else original(name, published)

    monkeypatch.setattr(packages, "build", build)


def serve_settings_text(monkeypatch: pytest.MonkeyPatch, handler: str, text: str) -> None:
    """The fabric writes `text` as the RuntimeSettings of `handler`."""
    original = extension_documents._runtime_settings

    def render(extension: Any, settings: Any, protect: Any) -> str:
        return text if extension.name == handler else original(extension, settings, protect)

    monkeypatch.setattr(extension_documents, "_runtime_settings", render)
