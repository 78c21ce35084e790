"""The service manager's notification protocol (sd_notify(3)), in the standard library.

A unit of `Type=notify` counts as started, and the units ordered after it start, only when its
main process sends `READY=1` to `$NOTIFY_SOCKET`. Without that variable (no systemd, or a unit
that does not listen) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send `state` ("READY=1", "STATUS=..."); True when a service manager was told."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.warning("NOTIFY_SOCKET=%r is neither a path nor an abstract name", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.warning("could not tell the service manager %s: %s", state, exc)
        return False
    return True
