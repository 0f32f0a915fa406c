"""Column helpers shared by every domain's tables."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from laoyou.core.time import utcnow


def utc_field(*, default_now: bool = False, nullable: bool = False, index: bool = False) -> Any:
    """A timezone-aware UTC timestamp column."""
    if default_now:
        return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=nullable, index=index)
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


def read_model(model: type[SQLModel]) -> Any:
    """A read-only row of the model's table, its fields named as the model's attributes.

    For lists that are only shown: a row built from a result tuple costs a small fraction of a loaded entity
    (its instance state, the identity map, detaching it when the session closes), and reads the same."""
    return namedtuple(f"{model.__name__}Row", [column.key for column in model.__table__.columns])  # type: ignore[attr-defined]


__all__ = ["datetime", "read_model", "utc_field"]
