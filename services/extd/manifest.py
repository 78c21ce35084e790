"""The handler's version manifest (PluginVersionManifest) and the classic version choice (§9.3)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET

from .errors import Code, ExtensionError
from .versions import Version


@dataclass(frozen=True)
class Package:
    version: Version
    uris: tuple[str, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: Element, name: str) -> str:
    found = _children(element, name)
    return (found[0].text or "").strip() if found else ""


def parse_manifest(data: bytes) -> list[Package]:
    """Every package of Plugins and InternalPlugins with a usable version, ascending."""
    try:
        root = SafeET.fromstring(data.removeprefix(b"\xef\xbb\xbf"))
    except Exception as exc:  # defusedxml raises several types for hostile or broken XML
        raise ExtensionError(
            Code.MANIFEST_DOWNLOAD_ERROR, f"the handler manifest is not valid XML: {exc}"
        ) from None
    packages: list[Package] = []
    for section in ("Plugins", "InternalPlugins"):
        for container in _children(root, section):
            for plugin in _children(container, "Plugin"):
                version = Version.parse(_child_text(plugin, "Version"))
                uris = tuple(
                    (uri.text or "").strip()
                    for holder in _children(plugin, "Uris")
                    for uri in _children(holder, "Uri")
                    if (uri.text or "").strip()
                )
                if version is not None and uris:
                    packages.append(Package(version, uris))
    return sorted(packages, key=lambda p: p.version)


def select_package(packages: list[Package], requested: str) -> Package | None:
    """The highest package whose version the requested one matches as a prefix."""
    wanted = Version.parse(requested)
    if wanted is None:
        return None
    matching = [p for p in packages if wanted.matches(p.version)]
    return matching[-1] if matching else None
