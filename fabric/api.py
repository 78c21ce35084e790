"""The admin API's small shared vocabulary (used by the server and the light client)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class _Keep:
    """The value of a setting a control call leaves unchanged."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


@dataclass(frozen=True)
class AdminAddress:
    """`unix:/path/to/admin.sock` or `ADDRESS:PORT`."""

    unix_path: Path | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AdminAddress:
        if text.startswith("unix:"):
            path = text.removeprefix("unix:")
            if not path:
                raise ValueError("admin address unix: needs a path")
            return cls(unix_path=Path(path))
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"admin address {text!r} is neither unix:/path nor ADDRESS:PORT")
        return cls(host=host.strip("[]"), port=int(port))

    def __str__(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        return f"{self.host}:{self.port}"
