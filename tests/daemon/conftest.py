"""The supervisor's tests run the `waagent` command on the same private system as tests/cli."""

from __future__ import annotations

from tests.cli.conftest import system

__all__ = ["system"]
