"""Azure storage, directly (§5.3): the status blob and artifact downloads, proxy allowed.

The proxy comes from `HttpProxy.Host`/`HttpProxy.Port`, else `http_proxy`/`https_proxy`, and
`no_proxy` is honoured the classic way: CIDR blocks and exact addresses for IP hosts, a
case-insensitive suffix match for names (§2.4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import BinaryIO
from urllib.parse import urlsplit

from ..common.models.extensions import StatusUploadBlob
from ..common.telemetry_xml import MAX_PAGE_WRITE, PAGE, STORAGE_VERSION, storage_date
from .http import DOWNLOAD_POLICY, STATUS_POLICY, FabricHttp, Reply

CREATED = frozenset({201})


def page_ranges(content: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, bytes) of each page write: at most 4 MiB, zero-padded to 512 bytes."""
    for start in range(0, len(content), MAX_PAGE_WRITE):
        chunk = content[start : start + MAX_PAGE_WRITE]
        padded = chunk + b"\0" * (-len(chunk) % PAGE)
        yield start, start + len(padded), padded


def bypasses_proxy(host: str, no_proxy: str) -> bool:
    entries = [e for e in no_proxy.replace(" ", "").split(",") if e]
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        lowered = host.lower()
        return any(lowered.endswith(entry.lower().lstrip("*")) for entry in entries)
    for entry in entries:
        try:
            if address in ipaddress.IPv4Network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def proxy_for(
    url: str, *, host: str | None, port: int | None, environ: Mapping[str, str]
) -> str | None:
    parts = urlsplit(url)
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    if parts.hostname and no_proxy and bypasses_proxy(parts.hostname, no_proxy):
        return None
    if host:
        return f"http://{host}:{port}" if port else f"http://{host}"
    if parts.scheme == "https":
        return environ.get("https_proxy") or environ.get("HTTPS_PROXY")
    return environ.get("http_proxy") or environ.get("HTTP_PROXY")


class Storage:
    """Direct storage requests; each goes through the proxy chosen for its URL."""

    def __init__(
        self,
        client_for_proxy: Callable[[str | None], FabricHttp],
        *,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._client_for_proxy = client_for_proxy
        self._proxy_host = proxy_host
        self._proxy_port = proxy_port
        self._environ = dict(environ or {})

    def http_for(self, url: str) -> FabricHttp:
        proxy = proxy_for(url, host=self._proxy_host, port=self._proxy_port, environ=self._environ)
        return self._client_for_proxy(proxy)

    async def get(self, url: str, *, what: str, sink: BinaryIO | None, max_bytes: int) -> Reply:
        return await self.http_for(url).request(
            "GET", url, what=what, sink=sink, max_bytes=max_bytes, policy=DOWNLOAD_POLICY
        )

    async def put_status(self, blob: StatusUploadBlob, content: bytes) -> None:
        http = self.http_for(blob.url)
        common = {"x-ms-date": storage_date(), "x-ms-version": STORAGE_VERSION}
        if blob.blob_type == "BlockBlob":
            await http.request(
                "PUT",
                blob.url,
                what="status blob",
                headers={**common, "x-ms-blob-type": "BlockBlob"},
                content=content,
                ok=CREATED,
                policy=STATUS_POLICY,
            )
            return
        size = -(-len(content) // PAGE) * PAGE
        await http.request(
            "PUT",
            blob.url,
            what="status page blob",
            headers={
                **common,
                "x-ms-blob-type": "PageBlob",
                "x-ms-blob-content-length": str(size),
            },
            content=b"",
            ok=CREATED,
            policy=STATUS_POLICY,
        )
        separator = "&" if "?" in blob.url else "?"
        for start, end, page in page_ranges(content):
            await http.request(
                "PUT",
                f"{blob.url}{separator}comp=page",
                what="status page",
                headers={
                    "x-ms-date": storage_date(),
                    "x-ms-version": STORAGE_VERSION,
                    "x-ms-range": f"bytes={start}-{end - 1}",
                    "x-ms-page-write": "update",
                },
                content=page,
                ok=CREATED,
                policy=STATUS_POLICY,
            )
