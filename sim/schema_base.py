"""The base of every scenario model: frozen, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen pydantic model that rejects unknown fields (a typo must never pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
