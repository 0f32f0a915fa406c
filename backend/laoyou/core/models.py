"""Column helpers shared by every domain's tables."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel

from laoyou.core.time import utcnow


class UTCDateTime(TypeDecorator):
    """A timestamp that is written as UTC and read back aware, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        # SQLite keeps a datetime as its wall-clock text and drops the offset, so a Shanghai time written or
        # compared there is eight hours off; converting here keeps every table and every query in UTC.
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime ({value}) cannot be stored: say which zone it is in")
        return value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        read = self.impl_instance.result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return read  # PostgreSQL's timestamptz already comes back aware
        if read is None:
            return lambda value: value if value is None else value.replace(tzinfo=UTC)
        return lambda value: value if value is None else read(value).replace(tzinfo=UTC)


def utc_field(*, default_now: bool = False, nullable: bool = False, index: bool = False) -> Any:
    """A timezone-aware UTC timestamp column."""
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=nullable, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def read_model(model: type[SQLModel]) -> Any:
    """A read-only row of the model's table, its fields named as the model's attributes.

    For lists that are only shown: a row built from a result tuple costs a small fraction of a loaded entity
    (its instance state, the identity map, detaching it when the session closes), and reads the same."""
    return namedtuple(f"{model.__name__}Row", [column.key for column in model.__table__.columns])  # type: ignore[attr-defined]


__all__ = ["UTCDateTime", "datetime", "read_model", "utc_field"]
