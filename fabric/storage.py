"""The storage/CDN listener: manifests, packages, the InVMArtifactsProfile and status blobs.

Every URL must carry a SAS query (`sv=` and `sig=`), as real blob URLs do (403 otherwise). GETs
serve artifacts (and status blobs, for people looking); PUTs are direct status uploads.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from aiohttp import web

from .blobs import BlobError, Written
from .context import Context, Handler, Route
from .dispatch import error_response
from .source import Artifact

ARTIFACT_ENDPOINTS = {
    "manifest": "storage-manifest",
    "package": "storage-package",
    "artifacts-profile": "storage-artifacts-profile",
}


def is_page_write(query: str) -> bool:
    return "page" in parse_qs(query).get("comp", [])


def record_status(ctx: Context, channel: str, blob: str, written: Written | None) -> None:
    """One `status` record per write that leaves a complete status document."""
    if written is None:
        return
    ctx.recorder.record(
        "status",
        channel=channel,
        blob_type=written.blob_type,
        blob=blob,
        document=written.document,
        error=written.error,
        raw_length=written.raw_length,
    )


def serve_artifact(
    ctx: Context, found: Artifact, channel: str, url: str, **details: str | None
) -> web.Response:
    """Answer with an artifact and record what was downloaded through which channel."""
    ctx.recorder.record(
        "artifact",
        kind=found.kind,
        name=found.name,
        version=found.version,
        channel=channel,
        url=url,
        size=len(found.data),
        **details,
    )
    return web.Response(body=found.data, content_type=found.content_type)


def _has_sas(request: web.Request) -> bool:
    return bool(request.query.get("sv")) and bool(request.query.get("sig"))


class Storage:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def resolve(self, request: web.Request) -> Route | None:
        if not _has_sas(request):
            return Route("storage-status", self.forbidden)
        if request.method == "PUT":
            return Route("storage-status", self.put_status)
        if request.method != "GET":
            return None
        if request.path.startswith("/status/"):
            return Route("storage-status", self.get_status, "json")
        found = self.ctx.source.artifact(request.path)
        if found is None:
            return None
        return Route(
            ARTIFACT_ENDPOINTS[found.kind],
            self._serve(found),
            "xml" if found.kind == "manifest" else "bytes",
        )

    async def forbidden(self, request: web.Request) -> web.Response:
        return error_response(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request: no SAS signature",
        )

    def _serve(self, found: Artifact) -> Handler:
        async def serve(request: web.Request) -> web.Response:
            return serve_artifact(self.ctx, found, "direct", str(request.url))

        return serve

    async def get_status(self, request: web.Request) -> web.Response:
        content = self.ctx.blobs.content(request.path)
        if content is None:
            return error_response(404, "BlobNotFound", "The specified blob does not exist.")
        return web.Response(body=content, content_type="application/octet-stream")

    async def put_status(self, request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            written = self.ctx.blobs.put(
                request.path, is_page_write(request.query_string), headers, await request.read()
            )
        except BlobError as exc:
            return error_response(exc.status, exc.code, str(exc))
        record_status(self.ctx, "direct", request.path, written)
        return web.Response(status=201)
