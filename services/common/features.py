"""What this agent supports, decided in one place (reference §5.2 supportedFeatures, §9.1
RequiredFeatures): wire announces it in the status blob, extd judges a goal state's
requiredFeatures against it.

`VersioningGovernance` is deliberately not supported: it invites RSM version requests, which this
agent (updated by its distribution package) cannot honour (docs/wire.md, "Agent updates"). So it
is never announced, and a goal state that requires it fails with code 2001, as classic fails one
that requires a feature it lacks.
"""

from __future__ import annotations

from collections.abc import Iterable

MULTI_CONFIG = "MultipleExtensionsPerHandler"
FAST_TRACK = "FastTrack"  # announced only while the HostGAPlugin serves vmSettings
VERSIONING_GOVERNANCE = "VersioningGovernance"  # not supported: see above

# The features a goal state may require.
REQUIRABLE = frozenset({MULTI_CONFIG})


def announced(*, fast_track: bool) -> tuple[str, ...]:
    """The status blob's supportedFeatures, in order."""
    return (MULTI_CONFIG, *((FAST_TRACK,) if fast_track else ()))


def unsupported(required: Iterable[str]) -> tuple[str, ...]:
    """The required features this agent lacks, in the goal state's order."""
    return tuple(f for f in required if f not in REQUIRABLE)
