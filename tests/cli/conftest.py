"""Fixtures of the `waagent` command's tests: a private system per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .system import CliSystem, cli_system


@pytest.fixture
def system() -> Iterator[CliSystem]:
    """Bus, polkitd, sandbox root and fabric; no service runs until a test starts the daemon."""
    with cli_system() as built:
        yield built


@pytest.fixture
def activated() -> Iterator[CliSystem]:
    """The same, with the services bus-activated as on a systemd host."""
    with cli_system(activatable=True) as built:
        yield built
