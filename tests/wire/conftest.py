from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing_for_integration
from tests.wire.system import WireSystem, wire_system

if missing_for_integration():
    pytestmark = pytest.mark.skip(reason=missing_for_integration() or "")


@pytest.fixture
def wire() -> Iterator[WireSystem]:
    with wire_system() as system:
        yield system
