"""A sandbox root tree: what the services see as `/`, so nothing touches the host."""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

from .paths import SAMPLE_CONFIG


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_path = root / "etc" / "waagent.conf"

    def path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    def create(
        self, config: Mapping[str, str] | None = None, *, wire_user: str | None = None
    ) -> None:
        for inner, mode in (
            ("etc", 0o755),
            ("var/lib/waagent", 0o700),
            ("var/lib/waagent-wire", 0o700),
            ("var/log", 0o755),
            ("run", 0o755),
        ):
            directory = self.path(inner)
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, mode)
        os.chmod(self.root, 0o755)
        log = self.path("/var/log/waagent.log")
        log.touch()
        if wire_user is not None:
            user = pwd.getpwnam(wire_user)
            # wire runs unprivileged: its own state directory, and the shared log.
            os.chown(self.path("/var/lib/waagent-wire"), user.pw_uid, user.pw_gid)
            os.chown(log, 0, user.pw_gid)
            os.chmod(log, 0o664)
        self.write_config(config or {})

    def write_config(self, overrides: Mapping[str, str]) -> None:
        """The shipped sample configuration with the values of `overrides` put in place."""
        self.config_path.write_text(with_overrides(SAMPLE_CONFIG.read_text(), overrides))


def with_overrides(config: str, overrides: Mapping[str, str]) -> str:
    """A waagent.conf text with each key of `overrides` set in place (or appended)."""
    lines = config.splitlines()
    pending = dict(overrides)
    for i, line in enumerate(lines):
        key = line.lstrip("# ").partition("=")[0]
        if "=" in line and key in pending:
            lines[i] = f"{key}={pending.pop(key)}"
    lines += [f"{key}={value}" for key, value in pending.items()]
    return "\n".join(lines) + "\n"
