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

from waagent.fabric.scenario import Extension, Scenario

from .system import PROBE_DIR, SAMPLE, System

Entry = tuple[str, bytes, int]  # name, content, st_mode
LINK = stat.S_IFLNK | 0o777
FILE = stat.S_IFREG | 0o644


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


# ---- symlink escapes (issue 12): each link looks inside when its `..` are counted by hand ----

# `d/e/f/up` is the handler directory itself; four levels above the handler directory (and
# above its temporary twin in Lib.Dir) is the root: /var/lib/waagent/<dir>/../../../..
UP = ("d/e/f/up", b"../../..", LINK)
CRON = b"d/e/f/up/../../../../etc/cron.d"


def symlink_escapes() -> dict[str, list[Entry]]:
    """Packages whose symlinks, resolved the way the kernel does, reach `<root>/etc/cron.d`."""
    manifest, probe = probe_files()
    return {
        # The package of the issue: the top manifest is a link out, a nested one is real, so
        # copying the nested one to the top wrote through the link.
        "manifest-through-a-chain": [
            UP,
            ("HandlerManifest.json", CRON + b"/x", LINK),
            ("pkg/HandlerManifest.json", manifest[1], FILE),
            probe,
        ],
        "absolute": [manifest, probe, ("cron", b"/etc/cron.d", LINK)],
        # A link to a link: `d/up` is the top, so `d/e/out/..` is above it.
        "link-to-link": [manifest, probe, ("d/up", b"..", LINK), ("d/e/out", b"../up/..", LINK)],
        # An entry written through a link that leads out.
        "file-through-the-link": [manifest, probe, UP, ("out", CRON, LINK), ("out/x", b"x", FILE)],
        # A directory the agent writes settings into, leading out.
        "agent-writes-through-the-link": [manifest, probe, UP, ("config", CRON, LINK)],
    }


def with_sample(scenario: Scenario, *extensions: Extension) -> Scenario:
    sample = Extension(name=SAMPLE, version="1.0.0")
    return scenario.model_copy(update={"extensions": [*extensions, sample]})


def failed(system: System, handler: str, code: int, timeout: float = 30) -> dict[str, object]:
    """The handler's entry once it is NotReady with `code`; the sample must have succeeded."""
    item = system.wait_entry(
        handler, lambda i: i["status"] == "NotReady" and i["code"] == code, timeout=timeout
    )
    system.wait_extension_status(SAMPLE, "success", seq=0)
    return item
