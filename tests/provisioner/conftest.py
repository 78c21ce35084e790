"""Fixtures of the provisioner's tests: a sandbox machine per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from .machine import Machine, require_accounts


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A sandbox machine with the default provisioning DVD inserted."""
    require_accounts()
    from . import samples

    built = Machine(tmp_path).build()
    built.insert_dvd(samples.ovf_env())
    return built


@pytest.fixture
def bare_machine(tmp_path: Path) -> Machine:
    """A sandbox machine without a DVD."""
    require_accounts()
    return Machine(tmp_path).build()
