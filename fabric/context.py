"""What every listener's handlers share: the document source, the recorder, faults, blobs."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .blobs import BlobStore
from .faults import FaultPlan
from .recorder import Recorder
from .source import Source

BodyKind = Literal["xml", "json", "bytes"]
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class Route:
    """A request the fabric understands: its fault endpoint, handler and kind of body."""

    endpoint: str
    handler: Handler
    body: BodyKind = "xml"
    invalid: Handler | None = None  # the fault "invalid": well-formed, against the rules


@dataclass
class Context:
    source: Source
    recorder: Recorder
    faults: FaultPlan
    blobs: BlobStore = field(default_factory=BlobStore)
    _transport: x509.Certificate | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember_transport(self, certificate: x509.Certificate) -> None:
        with self._lock:
            self._transport = certificate

    def transport_pem(self) -> str | None:
        with self._lock:
            certificate = self._transport
        if certificate is None:
            return None
        return certificate.public_bytes(serialization.Encoding.PEM).decode()
