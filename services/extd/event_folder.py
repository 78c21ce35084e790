"""Whether an extension's events folder may be watched: shared by extd's path units and the
`waagent -daemon` inotify watch, which imports nothing else of extd (it stays resident)."""

from __future__ import annotations

import os
from pathlib import Path


def watchable(folder: Path) -> bool:
    """Nothing in the folder that collection leaves behind for good (a directory)."""
    try:
        with os.scandir(folder) as entries:
            return not any(entry.is_dir(follow_symlinks=False) for entry in entries)
    except FileNotFoundError:
        return True  # watched from its parent until the handler creates it
    except OSError:
        return False
