"""Datetimes are stored as aware UTC and shown in Asia/Shanghai."""

from datetime import UTC, date, datetime
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


def local_date(value: datetime) -> date:
    """The Shanghai calendar day an instant falls on."""
    return local(value).date()


def day_start(day: date) -> datetime:
    """The first instant of a Shanghai calendar day, as aware UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


def start_of_local_day(now: datetime) -> datetime:
    """Midnight (Shanghai) of the day an instant falls on, as aware UTC: where "today" begins."""
    return day_start(local_date(now))
