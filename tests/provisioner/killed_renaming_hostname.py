"""The provisioner service, killed with SIGKILL at the instant it renames a finished temporary
file onto `<root>/etc/hostname`: the state a power cut or `kill -9` in the middle of an atomic
write leaves. An audit hook sees the rename before the system call, so the kill lands between
the temporary file's fsync and the rename, every time.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from waagent.provisioner.__main__ import main

TARGET = os.path.join(sys.argv[sys.argv.index("--root") + 1], "etc/hostname")


def _die_on_rename(event: str, args: tuple[Any, ...]) -> None:
    if event == "os.rename" and os.fspath(args[1]) == TARGET:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    sys.addaudithook(_die_on_rename)
    sys.exit(main())
