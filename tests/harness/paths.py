"""Where things are: the repository, its policy files, the interpreter services run with."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO / "dbus" / "policy"
INTERFACES_DIR = REPO / "dbus" / "interfaces"
SAMPLE_CONFIG = REPO / "config" / "waagent.conf"
TEST_DATA = REPO / "tests" / "data"

# Services and unprivileged clients run with the interpreter running the tests: the venv built
# on Debian's /usr/bin/python3, which users other than root can execute.
PYTHON = sys.executable
