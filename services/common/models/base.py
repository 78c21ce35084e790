"""The base of the agent's own records: immutable, and strict about unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A value that is replaced, never edited, and refuses fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid")
