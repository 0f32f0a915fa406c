"""Timestamps are stored as UTC whatever zone the code hands them in, and read back aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import SQLModel, select

import laoyou.models  # noqa: F401  (registers every table)
from laoyou.accounts.models import Notification, Person
from laoyou.core.time import SHANGHAI


async def a_notification(db, created_at: datetime) -> Notification:  # noqa: ANN001
    person = (await db.exec(select(Person).limit(1))).one()
    row = Notification(person_id=person.id, kind="test", title="时间", created_at=created_at)
    db.add(row)
    await db.flush()
    return row


async def test_a_shanghai_time_is_stored_as_the_same_instant_in_utc(db):
    # Given 21:15 on a Shanghai evening, handed to the database in Shanghai's zone
    evening = datetime(2026, 12, 6, 21, 15, tzinfo=SHANGHAI)
    row = await a_notification(db, evening)
    # When it is read back, and compared in a query with instants just before and after it
    db.expire(row)
    await db.refresh(row)
    before = (
        await db.exec(
            select(Notification.id).where(
                Notification.id == row.id, Notification.created_at > evening - timedelta(seconds=1)
            )
        )
    ).all()
    after = (
        await db.exec(
            select(Notification.id).where(
                Notification.id == row.id,
                Notification.created_at > evening.astimezone(UTC) + timedelta(seconds=1),
            )
        )
    ).all()
    # Then it is the same instant, aware and in UTC, and queries compare instants, not wall-clock text
    assert row.created_at == evening and row.created_at.tzinfo is UTC
    assert before == [row.id] and after == []


async def test_sqlite_keeps_the_utc_wall_clock(db):
    if db.bind.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's timestamptz keeps the instant itself")
    row = await a_notification(db, datetime(2026, 12, 6, 21, 15, tzinfo=SHANGHAI))
    stored = await db.scalar(text("SELECT created_at FROM notification WHERE id = :id"), {"id": row.id})
    assert stored.startswith("2026-12-06 13:15:00")


async def test_a_naive_datetime_is_refused(db):
    # A naive value would be stored as whatever zone the code that made it happened to mean
    with pytest.raises(StatementError, match="naive datetime"):
        await a_notification(db, datetime(2026, 12, 6, 21, 15))


def test_no_timestamp_comes_from_the_database_servers_clock():
    # Every time is Python's (utcnow, moved in tests by LAOYOU_TEST_CLOCK); a server-side now() would mix
    # two clocks that may disagree, and PostgreSQL's cannot be moved.
    for table in SQLModel.metadata.tables.values():
        for column in table.columns:
            default = column.server_default
            spelled = str(getattr(default, "arg", "")).lower()
            where = (table.name, column.name)
            assert not any(word in spelled for word in ("now", "current_", "localtime")), where
            assert column.server_onupdate is None and column.onupdate is None, where
