"""Handler versions as the classic agent compares them ("FlexibleVersion", reference §1.3).

Dot-separated integers compared numerically (`1.10.0` > `1.9.3`); a requested version matches a
published one when its numbers are a prefix of the other's (`1.0` matches `1.0.7`, `1.0.0`
matches `1.0.0` and `1.0.0.4` but not `1.0.1`). Anything else is not a version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(r"^\d+(\.\d+)*$")


@total_ordering
@dataclass(frozen=True)
class Version:
    text: str
    numbers: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Version | None:
        stripped = text.strip()
        if not _VERSION.match(stripped):
            return None
        return cls(stripped, tuple(int(part) for part in stripped.split(".")))

    def _key(self) -> tuple[int, ...]:
        # 1.0 == 1.0.0 when ordering; trailing zeros carry no meaning.
        numbers = list(self.numbers)
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()
        return tuple(numbers)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def matches(self, published: Version) -> bool:
        """This (requested) version is a prefix of `published`."""
        return published.numbers[: len(self.numbers)] == self.numbers

    def __str__(self) -> str:
        return self.text


def is_version(text: str) -> bool:
    return Version.parse(text) is not None
