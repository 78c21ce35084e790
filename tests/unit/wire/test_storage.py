"""Storage requests go through the configured proxy, honouring no_proxy the classic way (§2.4);
page blobs are written in 512-byte pages of at most 4 MiB."""

from __future__ import annotations

import pytest

from waagent.wire.storage import MAX_PAGE_WRITE, bypasses_proxy, page_ranges, proxy_for

BLOB = "https://acct.blob.core.windows.net/vhds/status?sv=1&sig=x"


def test_the_configured_proxy_wins_over_the_environment() -> None:
    env = {"https_proxy": "http://env-proxy:3128"}
    assert proxy_for(BLOB, host="10.0.0.9", port=8080, environ=env) == "http://10.0.0.9:8080"


@pytest.mark.parametrize(
    ("url", "variable"), [(BLOB, "https_proxy"), ("http://cdn.example/p.zip", "http_proxy")]
)
def test_without_configuration_the_scheme_picks_the_environment_variable(
    url: str, variable: str
) -> None:
    env = {variable.upper(): "http://env-proxy:3128"}
    assert proxy_for(url, host=None, port=None, environ=env) == "http://env-proxy:3128"


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("acct.blob.core.windows.net", "core.windows.net", True),
        ("acct.blob.core.windows.net", "CORE.WINDOWS.NET", True),
        ("acct.blob.core.windows.net", "example.com", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("10.1.2.3", "10.1.2.3", True),
        ("10.1.2.3", "192.168.0.0/16, 10.9.9.9", False),
    ],
)
def test_no_proxy_matches_name_suffixes_cidr_blocks_and_addresses(
    host: str, no_proxy: str, bypassed: bool
) -> None:
    assert bypasses_proxy(host, no_proxy) is bypassed


def test_a_bypassed_host_gets_no_proxy_even_when_one_is_configured() -> None:
    env = {"no_proxy": "blob.core.windows.net"}
    assert proxy_for(BLOB, host="10.0.0.9", port=8080, environ=env) is None


def test_pages_are_512_aligned_and_at_most_4_mib() -> None:
    content = b"x" * (MAX_PAGE_WRITE + 1000)
    ranges = list(page_ranges(content))
    assert [(start, end) for start, end, _ in ranges] == [
        (0, MAX_PAGE_WRITE),
        (MAX_PAGE_WRITE, MAX_PAGE_WRITE + 1024),
    ]
    assert all(len(page) % 512 == 0 for _, _, page in ranges)
    assert ranges[1][2].endswith(b"\0" * 24)
