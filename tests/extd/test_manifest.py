"""The version manifest and the classic version choice (§9.3)."""

from __future__ import annotations

import pytest

from waagent.extd.errors import ExtensionError
from waagent.extd.manifest import parse_manifest, select_package
from waagent.extd.versions import Version

MANIFEST = b"""\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>
<PluginVersionManifest xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <Plugins>
    <Plugin><Version>1.0.2</Version><Uris><Uri>https://a/1.0.2</Uri></Uris></Plugin>
    <Plugin><Version>1.0.10</Version><Uris><Uri>https://a/1.0.10</Uri><Uri>https://b/1.0.10</Uri></Uris></Plugin>
    <Plugin><Version>1.1.0</Version><Uris><Uri>https://a/1.1.0</Uri></Uris></Plugin>
    <Plugin><Version>not-a-version</Version><Uris><Uri>https://a/x</Uri></Uris></Plugin>
  </Plugins>
  <InternalPlugins>
    <Plugin><Version>2.0.0</Version><Uris><Uri>https://a/2.0.0</Uri></Uris></Plugin>
  </InternalPlugins>
</PluginVersionManifest>"""


def test_every_usable_package_is_listed_in_ascending_order() -> None:
    packages = parse_manifest(MANIFEST)
    assert [str(p.version) for p in packages] == ["1.0.2", "1.0.10", "1.1.0", "2.0.0"]
    assert packages[1].uris == ("https://a/1.0.10", "https://b/1.0.10")


@pytest.mark.parametrize(
    ("requested", "chosen"),
    [
        ("1.0", "1.0.10"),
        ("1", "1.1.0"),
        ("1.0.2", "1.0.2"),
        ("2.0.0", "2.0.0"),
        ("3.0", None),
        ("x", None),
    ],
)
def test_the_highest_package_the_requested_version_is_a_prefix_of_is_chosen(
    requested: str, chosen: str | None
) -> None:
    found = select_package(parse_manifest(MANIFEST), requested)
    assert (str(found.version) if found else None) == chosen


def test_a_manifest_that_is_not_xml_is_a_download_error() -> None:
    with pytest.raises(ExtensionError) as error:
        parse_manifest(b"<Plugins><Plugin>")
    assert error.value.code == 1001


def test_versions_compare_numerically_and_match_by_prefix() -> None:
    v = Version.parse
    assert v("1.10") > v("1.9.9")  # type: ignore[operator]
    assert v("1.0") == v("1.0.0")
    assert v("1.0").matches(v("1.0.7"))  # type: ignore[union-attr,arg-type]
    assert not v("1.0.0").matches(v("1.0.1"))  # type: ignore[union-attr,arg-type]
    assert v("1.0-beta") is None
