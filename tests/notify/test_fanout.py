"""A notice to a large audience is one row in its transaction and fans out in the worker: the same device and
climb rows as a small notice writes at once, written exactly once whatever runs, nothing lost if a worker dies."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from laoyou.accounts.models import Notification
from laoyou.core.db import session_scope
from laoyou.notify import outbox
from laoyou.notify import service as notify
from laoyou.notify.models import NoticeFanout, PushOutbox
from laoyou.notify.reach.models import Reach, ReachSend

from ..billing.helpers import actor_for
from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, make_database_url, make_settings, started
from ..media.test_cleanup import until_waiting_or_done
from .test_reach import community_of, give_push


@pytest.fixture
def small_inline(monkeypatch):  # noqa: ANN001, ANN201
    """The demo's communities are small: any notice to more than two people fans out."""
    monkeypatch.setattr(outbox, "INLINE_AUDIENCE", 2)


async def send_emergency(session, title: str = "3号楼停水") -> tuple[str, list[int]]:  # noqa: ANN001
    community = await community_of(session, RESIDENT_XIUSHAN)
    steward = await actor_for(session, STEWARD_XIUSHAN)
    (notice,) = await notify.do_send_emergency(
        session, actor=steward, community_ids=[community], kind="water_cut", title=title, body="今晚8点恢复"
    )
    return notify.emergency_event_key(notice.id), sorted(
        await notify.community_audience(session, [community])
    )


async def written(session, event_key: str) -> tuple[Counter, Counter, int]:  # noqa: ANN001
    """Per person: climbs, and push rows; and the climbs' first steps."""
    reaches = Counter((await session.exec(select(Reach.person_id).where(Reach.event_key == event_key))).all())
    pushes = Counter(
        (await session.exec(select(PushOutbox.person_id).where(PushOutbox.event_key == event_key))).all()
    )
    steps = (
        await session.exec(
            select(ReachSend.id)
            .join(Reach, col(Reach.id) == ReachSend.reach_id)
            .where(Reach.event_key == event_key)
        )
    ).all()
    return reaches, pushes, len(steps)


async def test_a_large_notice_fans_out_in_the_worker_as_a_small_one_would_at_once(db, small_inline):  # noqa: ANN001
    # Given a community where one resident has a phone that takes push
    community = await community_of(db, RESIDENT_XIUSHAN)
    audience = sorted(await notify.community_audience(db, [community]))
    assert len(audience) > outbox.INLINE_AUDIENCE
    await give_push(db, audience[0])
    # When the steward sends an emergency notice to all of them
    event_key, people = await send_emergency(db)
    # Then each has the notification now, and one fan-out waits: no device or climb row yet
    notified = Counter(
        (await db.exec(select(Notification.person_id).where(Notification.link.like("/emergencies/%")))).all()
    )
    assert set(people) <= set(notified)
    fanout = (await db.exec(select(NoticeFanout).where(NoticeFanout.event_key == event_key))).one()
    assert fanout.person_ids == people and fanout.expanded_at is None
    assert await written(db, event_key) == (Counter(), Counter(), 0)
    # When the worker expands it
    assert (await outbox.expand_fanout(db)).event_key == event_key
    # Then everyone has one climb with its first step, and the phone one push, as if written at once
    reaches, pushes, steps = await written(db, event_key)
    assert reaches == Counter(people) and steps == len(people)
    assert pushes == Counter([audience[0]])
    # And it is expanded once: the next round finds nothing
    assert await outbox.expand_fanout(db) is None


async def test_a_small_notice_is_written_at_once(db):  # noqa: ANN001
    event_key, people = await send_emergency(db)
    assert len(people) <= outbox.INLINE_AUDIENCE
    reaches, _pushes, steps = await written(db, event_key)
    assert reaches == Counter(people) and steps == len(people)
    assert not (await db.exec(select(NoticeFanout).where(NoticeFanout.event_key == event_key))).all()


@pytest.fixture(scope="module")
async def own_app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """An app of its own without its embedded worker: these tests commit and play the workers themselves."""
    tmp = tmp_path_factory.mktemp(f"fanout-{backend}")
    settings = make_settings(tmp, make_database_url(backend, tmp, request), worker="external")
    async with started(settings) as application:
        yield application


async def committed_notice(app: Any, title: str) -> tuple[str, list[int]]:
    async with session_scope(app.state.sessionmaker) as session:
        return await send_emergency(session, title)


async def expand(app: Any) -> NoticeFanout | None:
    async with session_scope(app.state.sessionmaker) as session:
        return await outbox.expand_fanout(session)


async def test_two_workers_expand_a_fanout_once(own_app, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(outbox, "INLINE_AUDIENCE", 2)
    # Given two large notices waiting
    first_key, people = await committed_notice(own_app, "停水")
    second_key, _ = await committed_notice(own_app, "停电")
    # When two workers expand at once, the second starting while the first holds its claim
    async with own_app.state.sessionmaker() as first:
        claimed = await outbox.expand_fanout(first)
        second = asyncio.create_task(expand(own_app))
        await until_waiting_or_done(own_app, second)
        await first.commit()
    other = await second
    # Then each took a different one (or the second found the first's done), and a third round ends it
    assert claimed.event_key == first_key
    assert other is None or other.event_key == second_key
    await outbox.expand_fanouts(own_app.state.sessionmaker, own_app.state.pubsub)
    async with own_app.state.sessionmaker() as session:
        for key in (first_key, second_key):
            reaches, _, steps = await written(session, key)
            assert reaches == Counter(people) and steps == len(people)


async def test_a_worker_dying_midway_loses_nothing(own_app, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(outbox, "INLINE_AUDIENCE", 2)
    key, people = await committed_notice(own_app, "电梯停运")
    # When a worker claims and writes it, then dies before committing
    async with own_app.state.sessionmaker() as dying:
        assert (await outbox.expand_fanout(dying)).event_key == key
        await dying.rollback()
    async with own_app.state.sessionmaker() as session:
        assert await written(session, key) == (Counter(), Counter(), 0)
    # Then the next worker's round expands it, once
    assert await outbox.expand_fanouts(own_app.state.sessionmaker, own_app.state.pubsub) == 1
    async with own_app.state.sessionmaker() as session:
        reaches, _, steps = await written(session, key)
    assert reaches == Counter(people) and steps == len(people)


async def test_the_worker_round_expands_and_a_bad_fanout_releases_its_transaction(own_app, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(outbox, "INLINE_AUDIENCE", 2)
    key, people = await committed_notice(own_app, "台风预警")

    async def broken(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("the database went away mid-fan-out")

    # When expanding fails midway, the error reaches the worker's round and the fan-out is still waiting
    monkeypatch.setattr(outbox, "_enqueue_now", broken)
    with pytest.raises(RuntimeError):
        await outbox.expand_fanouts(own_app.state.sessionmaker, own_app.state.pubsub)
    monkeypatch.undo()
    monkeypatch.setattr(outbox, "INLINE_AUDIENCE", 2)
    # Then nothing holds the database (another write goes through) and the next round expands it
    await committed_notice(own_app, "台风解除")
    assert await outbox.expand_fanouts(own_app.state.sessionmaker, own_app.state.pubsub) == 2
    async with own_app.state.sessionmaker() as session:
        reaches, _, _ = await written(session, key)
    assert reaches == Counter(people)
