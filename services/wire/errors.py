"""Failures talking to the fabric; callers see them as org.waagent.Error.FabricUnavailable."""

from __future__ import annotations

from ..common.errors import FabricUnavailable


class FabricError(FabricUnavailable):
    """The fabric could not be reached, answered with an error, or sent something unusable."""


class HttpFailed(FabricError):
    """A request failed for good (after its retries): the message says how."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ResourceGone(HttpFailed):
    """410: the document belongs to an older goal state; refresh the goal state and retry once."""


class InvalidContainer(HttpFailed):
    """400 InvalidContainerConfiguration: our container id or config name is stale."""


class MalformedDocument(FabricError):
    """A document that is not well-formed, too big, has entities, or lacks what we need."""
