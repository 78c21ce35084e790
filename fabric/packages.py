"""Extension packages: a handler directory (or the built-in sample) zipped on the fly."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from . import sample_handler
from .scenario import HandlerVersion

# Fixed timestamps: the same directory always gives the same bytes.
EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(ValueError):
    """A handler directory that cannot be published."""


def _directory_files(directory: Path) -> dict[str, tuple[bytes, int]]:
    if not directory.is_dir():
        raise PackageError(f"handler directory {directory} does not exist")
    found: dict[str, tuple[bytes, int]] = {}
    for top, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            path = Path(top) / name
            mode = path.stat().st_mode
            if stat.S_ISREG(mode):
                found[path.relative_to(directory).as_posix()] = (path.read_bytes(), mode & 0o777)
    if not any(Path(name).name == "HandlerManifest.json" for name in found):
        raise PackageError(f"handler directory {directory} has no HandlerManifest.json")
    return found


def build(handler: str, published: HandlerVersion) -> bytes:
    """The zip the manifest's package URI serves for this handler version."""
    if published.package is not None:
        return published.package.read_bytes()
    if published.handler_dir is None:
        contents = sample_handler.files(handler, published.version)
    else:
        contents = _directory_files(published.handler_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in contents.items():
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
