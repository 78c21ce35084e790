"""Fixtures of the netd tests: a VM namespace facing the WireServer, the wire user, a root."""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.users import system_user
from waagent.common.names import WIRE_USER

from .netns import VmNetwork, missing_for_netns, vm_network

NOBODY = 65534


@pytest.fixture
def vm() -> Iterator[VmNetwork]:
    problem = missing_for_netns()
    if problem:
        pytest.skip(problem)
    with vm_network() as network:
        yield network


@pytest.fixture(scope="session")
def wire_user() -> Iterator[pwd.struct_passwd]:
    problem = missing_for_netns()
    if problem:
        pytest.skip(problem)
    with system_user(WIRE_USER) as entry:
        yield entry


def write_passwd(root: Path, wire_uid: int | None) -> None:
    """A root whose /etc/passwd has root (and waagent-wire with `wire_uid`)."""
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    lines = ["root:x:0:0:root:/root:/bin/bash", f"nobody:x:{NOBODY}:{NOBODY}::/:/usr/sbin/nologin"]
    if wire_uid is not None:
        lines.append(f"{WIRE_USER}:x:{wire_uid}:{wire_uid}::/nonexistent:/usr/sbin/nologin")
    (etc / "passwd").write_text("\n".join(lines) + "\n")
