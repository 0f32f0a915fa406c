"""Figures on known data: the database computes them (aggregates; PostgreSQL's percentile_cont, SQLite's
durations through Python), and both backends give the same, interpolated 90th percentile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.estates.models import Community
from laoyou.tickets import service as tickets
from laoyou.tickets.models import WorkOrder

from ..conftest import STEWARD_ZHUJIAJIAO

T0 = datetime(2020, 3, 1, 8, 0, tzinfo=UTC)
SINCE, UNTIL = datetime(2020, 2, 1, tzinfo=UTC), datetime(2020, 4, 1, tzinfo=UTC)


async def _actor(db, phone: str) -> Actor:  # noqa: ANN001
    person = (await db.exec(select(Person).where(Person.phone == "+86" + phone))).one()
    return Actor(person=person, grants=await accounts.live_grants(db, person.id))


async def _known_orders(db, steward: Actor) -> int:  # noqa: ANN001
    """Ten orders of March 2020: answered after 1..10 minutes; the first five done after 1..5 hours (due after
    200 minutes), rated 5, 4, 3 on the first three, the fourth reopened once; six water, four lighting."""
    district_id = next(g.district_id for g in steward.grants if g.district_id)
    community_id = (await db.exec(select(Community.id).where(Community.district_id == district_id))).first()
    for i in range(10):
        created = T0 + timedelta(hours=i)
        done = created + timedelta(hours=i + 1) if i < 5 else None
        db.add(
            WorkOrder(
                community_id=community_id,
                district_id=district_id,
                category="water" if i < 6 else "lighting",
                status="done" if done else "accepted",
                is_open=done is None,
                place="common",
                place_note="known",
                created_by_id=steward.person_id,
                client_id=f"figures-{i}",
                created_at=created,
                updated_at=created,
                response_due_at=created + timedelta(minutes=30),
                completion_due_at=created + timedelta(minutes=200),
                responded_at=created + timedelta(minutes=i + 1),
                done_at=done,
                rating=(5, 4, 3)[i] if i < 3 else None,
                reopen_count=1 if i == 3 else 0,
            )
        )
    await db.flush()
    return district_id


async def test_the_figures_of_known_orders(db):
    # Given ten known work orders of a past month in the steward's district
    steward = await _actor(db, STEWARD_ZHUJIAJIAO)
    district_id = await _known_orders(db, steward)
    # When the steward asks for that month's figures
    f = await tickets.figures(
        db,
        actor=steward,
        district_id=district_id,
        community_id=None,
        since=SINCE,
        until=UNTIL,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    # Then the database's aggregates match what the data says
    assert f.total == 10
    assert f.by_category == {"water": 6, "lighting": 4}
    assert f.by_status == {"done": 5, "accepted": 5}
    assert f.avg_response_minutes == 5.5
    # The 90th percentile interpolates between ranks, as percentile_cont does: 9 + 0.1 × (10 − 9)
    assert f.p90_response_minutes == 9.1
    assert f.avg_completion_minutes == 180.0
    assert f.p90_completion_minutes == 276.0  # 240 + 0.6 × 60
    assert f.sla_compliance == 0.6  # 60, 120, 180 of 200 minutes
    assert f.satisfaction == 4.0 and f.rated == 3
    assert f.reopen_rate == 0.2
    assert f.overdue_open == 5


async def test_the_figures_of_an_empty_period_are_empty(db):
    steward = await _actor(db, STEWARD_ZHUJIAJIAO)
    district_id = next(g.district_id for g in steward.grants if g.district_id)
    f = await tickets.figures(
        db,
        actor=steward,
        district_id=district_id,
        community_id=None,
        since=datetime(2001, 1, 1, tzinfo=UTC),
        until=datetime(2001, 2, 1, tzinfo=UTC),
    )
    assert f.total == 0 and f.by_category == {}
    assert f.avg_response_minutes is None and f.p90_response_minutes is None and f.sla_compliance is None
    assert f.satisfaction is None and f.rated == 0 and f.overdue_open == 0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5.0], 5.0),
        ([1.0, 2.0], 1.9),
        ([float(v) for v in range(1, 11)], 9.1),
        ([3.0, 1.0, 2.0, 4.0], 3.7),
    ],
)
def test_the_python_percentile_is_percentile_cont(values, expected):
    assert tickets._p90(values) == pytest.approx(expected)  # noqa: SLF001
