"""Column helpers shared by every domain's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field

from laoyou.core.time import utcnow


def utc_field(*, default_now: bool = False, nullable: bool = False, index: bool = False) -> Any:
    """A timezone-aware UTC timestamp column."""
    if default_now:
        return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=nullable, index=index)
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


__all__ = ["utc_field", "datetime"]
