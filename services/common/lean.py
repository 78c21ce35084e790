"""Imports for the processes that stay resident: what they would map and never use, left out.

The poller speaks plain HTTP and the `-daemon` supervisor speaks D-Bus on a Unix socket, yet
`http.client` and `asyncio` import `ssl` to offer TLS, and `ssl` maps libssl and libcrypto:
some 4 MiB of RSS per process for the machine's lifetime (bench/cli_daemon.py). Both modules
are written to do without it (`ssl` failing to import leaves HTTPS out).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def without_ssl() -> Iterator[None]:
    """Import what the block imports as if `ssl` were absent.

    A None in sys.modules makes an import of that name fail, the import system's documented way
    to block one. Taken out after the block, so a later `import ssl` works; a process that has
    imported ssl already (a test runner) keeps it. Call it first thing in an entry point only:
    what the block imports has no TLS for the rest of the process.
    """
    if "ssl" in sys.modules:
        yield
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["ssl"]
