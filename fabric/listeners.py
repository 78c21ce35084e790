"""Listening sockets the fabric can close and reopen, so "the fabric went away" is real.

A closed listener makes connects fail with ECONNREFUSED, as when the host's services restart;
reopening binds the same address and port again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

ProtocolFactory = Callable[[], asyncio.Protocol]


class Listener:
    def __init__(
        self,
        name: str,
        factory: Any,
        *,
        address: str | None = None,
        port: int = 0,
        unix_path: Path | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.port = port
        self.unix_path = unix_path
        self.factory = factory
        self._sock: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None

    def __repr__(self) -> str:
        where = self.unix_path or f"{self.address}:{self.port}"
        return f"<Listener {self.name} {where}>"

    def bind(self) -> None:
        """Bind and listen now (synchronously): connections queue until serving starts."""
        if self._sock is not None:
            return
        if self.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.unix_path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                old = os.umask(0o177)  # the admin socket is the owner's only: 0600
                try:
                    sock.bind(str(self.unix_path))
                finally:
                    os.umask(old)
            except OSError:
                sock.close()
                raise
        else:
            family = socket.AF_INET6 if self.address and ":" in self.address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.address or "", self.port))
            except OSError as exc:
                sock.close()
                raise OSError(
                    exc.errno,
                    f"{self.name}: cannot listen on {self.address}:{self.port}: {exc.strerror}",
                ) from None
            self.port = sock.getsockname()[1]
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock

    async def start(self) -> None:
        if self._server is not None:
            return  # already serving
        self.bind()
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        if self.unix_path is not None:
            self._server = await loop.create_unix_server(self.factory, sock=self._sock)
        else:
            self._server = await loop.create_server(self.factory, sock=self._sock)

    def stop_listening(self) -> None:
        """Close the listening socket (in the event loop's thread); open connections finish."""
        if self._server is not None:
            self._server.close()
            self._server = None
        elif self._sock is not None:
            self._sock.close()
        self._sock = None

    def close(self) -> None:
        """Stop listening for good (the open connections are the runner's to end)."""
        self.stop_listening()
        if self.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.unix_path.unlink()
