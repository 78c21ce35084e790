"""Status blobs as Azure storage keeps them (reference §5.3), for both upload channels.

BlockBlob: one PUT with the whole document. PageBlob: a create PUT (empty body,
x-ms-blob-content-length) then page PUTs (`comp=page`, x-ms-range on 512-byte boundaries). After
every write that completes a document, the decoded status JSON is returned for recording.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

PAGE = 512
RANGE = re.compile(r"bytes=(\d+)-(\d+)$")


class BlobError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Blob:
    blob_type: str
    content: bytearray


@dataclass(frozen=True)
class Written:
    """A write that left a complete status document (or bytes that are not one)."""

    blob_type: str
    document: dict[str, Any] | None
    error: str | None
    raw_length: int


def _decode(content: bytes) -> tuple[dict[str, Any] | None, str | None]:
    # Page blobs are padded with spaces by the agent and zeros by storage.
    text = bytes(content).rstrip(b"\x00 \n")
    try:
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"status blob is not JSON: {exc}"
    if not isinstance(document, dict):
        return None, "status blob is not a JSON object"
    return document, None


class BlobStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, Blob] = {}

    def put(
        self, path: str, is_page_write: bool, headers: dict[str, str], body: bytes
    ) -> Written | None:
        """Apply one storage PUT (headers lowercased); None when no document is complete yet."""
        with self._lock:
            if is_page_write:
                return self._put_page(path, headers, body)
            blob_type = headers.get("x-ms-blob-type")
            if blob_type == "BlockBlob":
                self._blobs[path] = Blob("BlockBlob", bytearray(body))
                return Written("BlockBlob", *_decode(body), raw_length=len(body))
            if blob_type == "PageBlob":
                self._create_page_blob(path, headers, body)
                return None
            raise BlobError(
                400, "MissingRequiredHeader", "x-ms-blob-type must be BlockBlob or PageBlob"
            )

    def _create_page_blob(self, path: str, headers: dict[str, str], body: bytes) -> None:
        size_text = headers.get("x-ms-blob-content-length", "")
        if not size_text.isdigit() or int(size_text) % PAGE:
            raise BlobError(
                400, "InvalidHeaderValue", "x-ms-blob-content-length must be a multiple of 512"
            )
        if body:
            raise BlobError(400, "InvalidHeaderValue", "a page blob is created with an empty body")
        self._blobs[path] = Blob("PageBlob", bytearray(int(size_text)))

    def _put_page(self, path: str, headers: dict[str, str], body: bytes) -> Written | None:
        blob = self._blobs.get(path)
        if blob is None or blob.blob_type != "PageBlob":
            raise BlobError(
                404, "BlobNotFound", "page write to a blob that was not created as PageBlob"
            )
        match = RANGE.match(headers.get("x-ms-range", ""))
        if match is None:
            raise BlobError(
                400, "MissingRequiredHeader", "page write without x-ms-range: bytes=start-end"
            )
        start, end = int(match.group(1)), int(match.group(2))
        if start % PAGE or (end + 1) % PAGE or end < start:
            raise BlobError(400, "InvalidPageRange", "page ranges must be 512-byte aligned")
        if end >= len(blob.content):
            raise BlobError(416, "InvalidPageRange", "page range beyond the blob's size")
        if len(body) != end - start + 1:
            raise BlobError(400, "InvalidHeaderValue", "body length differs from x-ms-range")
        if headers.get("x-ms-page-write", "update").lower() == "clear":
            body = bytes(len(body))
        blob.content[start : end + 1] = body
        document, error = _decode(bytes(blob.content))
        untouched = blob.content[end + 1 :]
        if error and untouched and not any(untouched):
            return None  # more pages to come
        return Written("PageBlob", document, error, raw_length=len(blob.content))

    def content(self, path: str) -> bytes | None:
        with self._lock:
            blob = self._blobs.get(path)
            return None if blob is None else bytes(blob.content)
