"""The crash journal of handler commands, `<Lib.Dir>/extd.running`: what runs now and what ended
in the goal state being processed, so that a restarted extd adopts a command or takes its result
instead of running it twice."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..common.root import write_file_atomic


@dataclass(frozen=True)
class Launch:
    """A command of the goal state being processed, as recorded on disk: while it runs, enough
    for a restarted extd to find it; once it ended, its result, so that a restarted extd that
    reaches the same operation again continues past it instead of running it twice."""

    handle: str  # the unit name, or "<pid>:<start time>" of a child
    key: str
    stdout: str
    stderr: str
    exit_code: int | None = None  # None: killed by its timeout (when `ended`)
    output: str = ""
    ended: bool = False


class LaunchRecords:
    """The commands running now, on disk (atomic, 0600)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.launches: dict[str, Launch] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                for item in json.loads(path.read_text()):
                    launch = Launch(**item)
                    self.launches[launch.handle] = launch

    def _save(self) -> None:
        if self.path is not None:
            items = [asdict(launch) for launch in self.launches.values()]
            write_file_atomic(self.path, json.dumps(items), mode=0o600)

    def add(self, launch: Launch) -> None:
        self.launches[launch.handle] = launch
        self._save()

    def remove(self, handle: str) -> None:
        if self.launches.pop(handle, None) is not None:
            self._save()

    def find(self, key: str) -> Launch | None:
        return next((x for x in self.launches.values() if x.key == key), None)

    def end(self, handle: str, exit_code: int | None, output: str) -> None:
        launch = self.launches.get(handle)
        if launch is not None:
            self.launches[handle] = replace(launch, exit_code=exit_code, output=output, ended=True)
            self._save()

    def settle(self) -> None:
        """The goal state's effects are on disk: forget the commands that ended."""
        ended = [handle for handle, launch in self.launches.items() if launch.ended]
        for handle in ended:
            del self.launches[handle]
        if ended:
            self._save()
