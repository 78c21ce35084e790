"""The resident half of `waagent -daemon` (resident.py), imported without TLS (common/lean.py):
run.py execs `python -m waagent.daemon` once it has planned."""

from __future__ import annotations

import sys

from ..common.lean import without_ssl

with without_ssl():
    from .resident import main

if __name__ == "__main__":
    sys.exit(main())
