"""An emergency notice is sent once per form: the same client id again (a second press, a reload, Back and send,
a retry after a lost answer) answers the notices the first send made, and nobody is told twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from laoyou.accounts.models import Notification
from laoyou.core.db import session_scope
from laoyou.core.errors import LaoyouError, NotFound
from laoyou.notify import service as notify
from laoyou.notify.models import EmergencyNotice

from ..billing.helpers import actor_for
from ..conftest import (
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
)
from .test_fanout import own_app  # noqa: F401  (an app of its own: these tests commit, from two sessions at once)
from .test_reach import community_of


async def send(app: Any, title: str, client_id: str | None, steward: str = STEWARD_XIUSHAN) -> list[int]:
    async with session_scope(app.state.sessionmaker) as session:
        community = await community_of(session, RESIDENT_XIUSHAN)
        actor = await actor_for(session, steward)
        notices = await notify.do_send_emergency(
            session,
            actor=actor,
            community_ids=[community],
            kind="water_cut",
            title=title,
            body="今晚8点恢复",
            client_id=client_id,
        )
        return [n.id for n in notices]


async def counts(app: Any, title: str) -> tuple[int, int]:
    async with app.state.sessionmaker() as session:
        notices = await session.exec(select(func.count()).where(EmergencyNotice.title == title))
        told = await session.exec(select(func.count()).where(Notification.title == title))
        return notices.one(), told.one()


async def test_the_same_form_sent_again_is_the_first_send(own_app):  # noqa: ANN001, F811
    first = await send(own_app, "一号楼停水", "form-1")
    again = await send(own_app, "一号楼停水", "form-1")
    assert again == first
    notices, told = await counts(own_app, "一号楼停水")
    assert notices == 1 and told > 0
    # Another form (a new id, or none) is another send
    assert await send(own_app, "一号楼停水", "form-2") != first
    assert await send(own_app, "一号楼停水", None) != first
    assert (await counts(own_app, "一号楼停水")) == (3, 3 * told)


async def test_two_presses_at_once_send_once(own_app):  # noqa: ANN001, F811
    # On PostgreSQL both run at once and the second's insert waits for the first's commit, then finds its notices
    first, second = await asyncio.gather(
        send(own_app, "二号楼停电", "form-twice"), send(own_app, "二号楼停电", "form-twice")
    )
    assert first == second
    notices, told = await counts(own_app, "二号楼停电")
    assert notices == 1 and told > 0


async def test_another_stewards_send_with_that_id_is_their_own(own_app):  # noqa: ANN001, F811
    # 刘强 cannot write to 秀山花园: the id of 张建国's form neither sends nor shows him 张建国's notices
    mine = await send(own_app, "三号楼电梯停用", "form-shared")
    with pytest.raises(NotFound):
        await send(own_app, "三号楼电梯停用", "form-shared", steward=STEWARD_YUEYANG)
    assert (await counts(own_app, "三号楼电梯停用"))[0] == 1 and mine


async def test_a_bad_client_id_is_refused_and_sends_nothing(own_app):  # noqa: ANN001, F811
    for bad in ("", " ", "x" * 65):
        with pytest.raises(LaoyouError) as refused:
            await send(own_app, "四号楼停气", bad)
        assert refused.value.field == "clientId"
    assert await counts(own_app, "四号楼停气") == (0, 0)
