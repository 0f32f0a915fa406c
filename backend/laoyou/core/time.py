"""Datetimes are stored as aware UTC and shown in Asia/Shanghai."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    zone = value.tzinfo
    if zone is UTC:
        return value  # already (PostgreSQL's, and every computed one): the board reads a few per line
    return value.replace(tzinfo=UTC) if zone is None else value.astimezone(UTC)


def local(value: datetime) -> datetime:
    return as_utc(value).astimezone(SHANGHAI)
