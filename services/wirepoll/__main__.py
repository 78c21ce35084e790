"""waagent-wirepoll's entry point: the poller (poller.py) imported without TLS (common/lean.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..common.lean import without_ssl


def main(argv: Sequence[str] | None = None) -> int:
    with without_ssl():
        from .poller import main as poll

    return poll(argv)


if __name__ == "__main__":
    sys.exit(main())
