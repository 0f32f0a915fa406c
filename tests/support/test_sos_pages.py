"""The SOS pages say what happened, to whoever is looking: a double tap raises one SOS, the resident is told her
family knows only when they do, a resolved SOS reads as resolved, nobody is said to be coming before someone
answered, her family read who asked for help and where, staff get her number and the state, and she can call
off an SOS she pressed by mistake ("I am fine"): only she, only while it is open, and everyone alerted is told."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select

from laoyou.accounts.models import AuditEvent, Notification, Person
from laoyou.core.db import WriteGate
from laoyou.core.phone import national, normalise_phone
from laoyou.support.models import SosAlert
from laoyou.support.service import sos as sos_service

from ..conftest import (
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    GraphQLClient,
    login_demo,
    make_database_url,
    make_settings,
    started,
)
from .test_pages import hidden, page_login


async def person(session: Any, phone: str) -> Person:
    return (await session.exec(select(Person).where(Person.phone == normalise_phone(phone)))).one()


async def confirm_form(client: httpx.AsyncClient, phone: str) -> dict[str, str]:
    """Log in and open 确认求助: the form its button posts."""
    token = await page_login(client, phone)
    confirm = (await client.get("/support/sos")).text
    return {
        "csrf_token": token,
        "household_id": hidden(confirm, "household_id"),
        "client_id": hidden(confirm, "client_id"),
    }


async def raise_sos(client: httpx.AsyncClient, phone: str) -> str:
    """The resident confirms an SOS; returns its page's path."""
    raised = await client.post("/support/sos", data=await confirm_form(client, phone))
    assert raised.status_code == 303, raised.text
    return raised.headers["location"]


async def assert_nothing_held(app: Any, session: Any, patience: float = 0.0) -> None:
    """No writer's gate held (SQLite; `patience`: seconds the embedded worker may still hold it), no transaction
    left open (PostgreSQL)."""
    gate = WriteGate.of(app.state.engine)
    if gate is not None:
        for _ in range(int(patience * 10)):
            if gate.holders == 0:
                break
            await asyncio.sleep(0.1)
        assert gate.holders == 0
    else:
        idle = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            )
        )
        assert idle.scalar_one() == 0


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)


def heading(html: str) -> str:
    """What the page's heading shows (its hidden parts left out)."""
    h1 = re.search(r'<h1 id="sos-title">(.*?)</h1>', html, re.S).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<span[^>]* hidden>.*?</span>|<[^>]+>", "", h1, flags=re.S)).strip()


def shown(html: str) -> str:
    """The page's text without the elements marked hidden (what the resident reads)."""
    visible = re.sub(r"<(p|a|span)\b[^>]*\shidden[\s>][^<]*(?:<(?!/\1>)[^<]*)*</\1>", "", html)
    return re.sub(r"<[^>]+>", "", visible)


# --- 1: a double tap ------------------------------------------------------------------------------------


async def test_a_second_tap_on_confirm_lands_on_the_same_sos(client, db):
    # Given 王秀英 on 确认求助
    form = await confirm_form(client, RESIDENT_XIUSHAN)
    # When the form is sent twice (the second after the first)
    first = await client.post("/support/sos", data=form)
    second = await client.post("/support/sos", data=form)
    # Then both land on the one SOS's page, and there is one SOS
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    resident = await person(db, RESIDENT_XIUSHAN)
    rows = (
        await db.exec(
            select(SosAlert).where(SosAlert.person_id == resident.id, SosAlert.client_id == form["client_id"])
        )
    ).all()
    assert len(rows) == 1 and first.headers["location"] == f"/support/sos/{rows[0].id}"
    assert (await client.get(second.headers["location"])).status_code == 200


@pytest.fixture
async def own_app(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """An app on a database of its own: two requests at once need two real connections, which the shared
    app's one-transaction-per-test fixture cannot give."""
    async with started(make_settings(tmp_path, make_database_url(backend, tmp_path, request))) as application:
        yield application


async def test_two_taps_at_once_raise_one_sos_and_both_land_on_its_page(own_app, monkeypatch):
    transport = httpx.ASGITransport(app=own_app, client=("10.9.8.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # Given 王秀英 on 确认求助
        form = await confirm_form(client, RESIDENT_XIUSHAN)
        # And both submissions get past "is it there yet?" before either writes (as a double tap does)
        original = sos_service.household_place
        together = asyncio.Barrier(2)

        async def side_by_side(*args: Any, **kwargs: Any) -> Any:
            await asyncio.wait_for(together.wait(), 20)
            return await original(*args, **kwargs)

        monkeypatch.setattr(sos_service, "household_place", side_by_side)
        # When the form is sent twice at once
        first, second = await asyncio.wait_for(
            asyncio.gather(client.post("/support/sos", data=form), client.post("/support/sos", data=form)), 60
        )
        monkeypatch.setattr(sos_service, "household_place", original)
        # Then both land on the same SOS's page, which opens
        assert (first.status_code, second.status_code) == (303, 303), second.text
        assert first.headers["location"] == second.headers["location"]
        assert (await client.get(first.headers["location"])).status_code == 200
        # And there is one SOS, and one set of alerts: each person told once
        async with own_app.state.sessionmaker() as session:
            resident = await person(session, RESIDENT_XIUSHAN)
            rows = (
                await session.exec(
                    select(SosAlert).where(
                        SosAlert.person_id == resident.id, SosAlert.client_id == form["client_id"]
                    )
                )
            ).all()
            assert len(rows) == 1
            links = (f"/staff/support/sos/{rows[0].id}", f"/support/sos/{rows[0].id}")
            told = Counter(
                await session.exec(select(Notification.person_id).where(col(Notification.link).in_(links)))
            )
            family = await person(session, FAMILY_OF_XIUSHAN)
            steward = await person(session, STEWARD_XIUSHAN)
            assert told[family.id] == 1 and told[steward.id] == 1 and set(told.values()) == {1}
            # And nothing was left holding the database: no writer's gate, no transaction left open
            await assert_nothing_held(own_app, session)
        # And the next SOS goes through at once
        again = await asyncio.wait_for(
            client.post("/support/sos", data={**form, "client_id": "after-the-race"}), 20
        )
        assert again.status_code == 303 and again.headers["location"] != first.headers["location"]


# --- 2: family told only when there is family ----------------------------------------------------------


async def test_the_resident_is_told_her_family_knows_only_when_family_were_told(client, db):
    # Given 李桂兰, whom no family follows, and 王秀英, whose son follows her home, each raised an SOS
    alone = (await client.get(await raise_sos(client, RESIDENT_JINGJU))).text
    followed = (await client.get(await raise_sos(client, RESIDENT_XIUSHAN))).text
    # Then only 王秀英's page says her family were told
    assert "也已经通知您的家人" not in alone and "求助已发出" in heading(alone)
    assert "也已经通知您的家人" in followed


# --- 3, 4, 6: the states as each one reads them ----------------------------------------------------------


def console_line(html: str, alert_id: str) -> str:
    return re.search(rf'<li><a href="/staff/support/sos/{alert_id}">.*?</li>', html, re.S).group(0)


async def test_the_console_says_someone_is_coming_only_once_someone_answered(client, db):
    # Given 王秀英's SOS, which alerted the steward on duty but nobody has answered
    alert_id = (await raise_sos(client, RESIDENT_XIUSHAN)).rsplit("/", 1)[1]
    # Then the agent's console does not say anyone is coming
    await page_login(client, AGENT_NANNING)
    listed = console_line((await client.get("/staff/support")).text, alert_id)
    assert "正在赶来" not in listed and "还没有人接手" in listed
    # When the steward says 我马上去
    token = await page_login(client, STEWARD_XIUSHAN)
    assert (
        await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token})
    ).status_code == 303
    # Then the console says he is coming
    await page_login(client, AGENT_NANNING)
    assert "张建国正在赶来" in console_line((await client.get("/staff/support")).text, alert_id)


async def test_the_staff_page_gives_her_number_to_call_and_the_state(client, db):
    # Given 王秀英's SOS, open
    alert_id = (await raise_sos(client, RESIDENT_XIUSHAN)).rsplit("/", 1)[1]
    resident = await person(db, RESIDENT_XIUSHAN)
    # When her steward opens it
    token = await page_login(client, STEWARD_XIUSHAN)
    staff = (await client.get(f"/staff/support/sos/{alert_id}")).text
    # Then her whole number is a call button, and it says nobody has answered
    assert f'class="call" href="tel:{national(resident.phone)}"' in staff and "还没有人接手" in shown(staff)
    # When he goes, then it says he is coming
    await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token})
    assert "张建国正在赶来" in shown((await client.get(f"/staff/support/sos/{alert_id}")).text)
    # When he has dealt with it, then it says so, with no button left to press
    done = await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token, "resolve": "1"})
    assert done.status_code == 303
    staff = (await client.get(f"/staff/support/sos/{alert_id}")).text
    assert "已经处理好了" in shown(staff) and 'name="resolve"' not in staff and "我马上去" not in staff


async def test_a_resolved_sos_reads_as_resolved_on_her_page(client, db):
    # Given 王秀英's SOS, which the steward took (我马上去)
    path = await raise_sos(client, RESIDENT_XIUSHAN)
    alert_id = path.rsplit("/", 1)[1]
    token = await page_login(client, STEWARD_XIUSHAN)
    await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token})
    # Then her page says he is coming
    await page_login(client, RESIDENT_XIUSHAN)
    coming = (await client.get(path)).text
    assert "张建国正在赶来" in shown(coming) and "马上有人来帮您" in title(coming)
    # When he says 已经处理好了
    token = await page_login(client, STEWARD_XIUSHAN)
    await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token, "resolve": "1"})
    # Then her page reads as resolved throughout: heading, tab title, and nobody said to be coming
    await page_login(client, RESIDENT_XIUSHAN)
    resolved = (await client.get(path)).text
    assert "已经处理好了" in heading(resolved) and "已经处理好了" in title(resolved)
    assert "求助已发出" not in title(resolved) and "正在赶来" not in shown(resolved)
    assert "已经通知服务中心" not in shown(resolved)


# --- 5: written for her family ------------------------------------------------------------------------------


async def test_her_family_read_who_asked_for_help_and_where_and_can_call_her(client, db):
    # Given 王秀英 raised an SOS
    path = await raise_sos(client, RESIDENT_XIUSHAN)
    resident = await person(db, RESIDENT_XIUSHAN)
    alert = await db.get(SosAlert, int(path.rsplit("/", 1)[1]))
    # When her son opens it from his notification
    await page_login(client, FAMILY_OF_XIUSHAN)
    notices = (await client.get("/notifications")).text
    assert f'href="{path}"' in notices
    page = (await client.get(path)).text
    # Then it says she asked for help, and where, not as if he had
    assert "王秀英" in heading(page) and alert.address in heading(page) and "王秀英" in title(page)
    assert "求助已发出" not in page and "也已经通知您的家人" not in page and "如果有人有危险" in page
    # And he can call her, and see the state: the steward on duty has been alerted
    assert f'href="tel:{national(resident.phone)}"' in page
    assert "已通知张建国" in shown(page)


# --- 7: "I am fine": she calls off an SOS pressed by mistake ------------------------------------------------

CANCEL_SOS = """mutation ($id: ID!) { cancelSos(id: $id) {
    __typename ... on SosRaised { alert { id status cancelled } } ... on Error { code message } } }"""


async def cancel_notices(session: Any, alert_id: int) -> dict[int, Notification]:
    rows = await session.exec(select(Notification).where(Notification.kind == "sos_cancelled"))
    return {n.person_id: n for n in rows if n.link.endswith(f"/sos/{alert_id}")}


async def test_she_says_she_is_fine_after_one_more_tap_and_everyone_alerted_is_told(client, db):
    # Given 王秀英's SOS, which alerted her steward on duty, the district's agent and her son
    path = await raise_sos(client, RESIDENT_XIUSHAN)
    alert_id = int(path.rsplit("/", 1)[1])
    steward, agent = await person(db, STEWARD_XIUSHAN), await person(db, AGENT_NANNING)
    son, resident = await person(db, FAMILY_OF_XIUSHAN), await person(db, RESIDENT_XIUSHAN)
    agent.language = "en"  # each is told in their own language
    db.add(agent)
    await db.flush()
    # Then her page offers the big 我没事了 button, a form with her CSRF token
    page = (await client.get(path)).text
    assert "我没事了，取消求助" in page and f'action="{path}/cancel"' in page
    token = hidden(page, "csrf_token")
    # When she presses it, she gets 确认取消 first, and nothing has changed yet
    confirm = await client.post(f"{path}/cancel", data={"csrf_token": token})
    assert confirm.status_code == 200 and "确认取消" in confirm.text and "要取消求助吗" in confirm.text
    assert (await db.get(SosAlert, alert_id, populate_existing=True)).status == "open"
    # When she taps 确认取消
    done = await client.post(f"{path}/cancel", data={"csrf_token": token, "confirm": "1"})
    assert done.status_code == 303 and done.headers["location"] == path
    # Then her page reads 您已取消求助, heading and tab title, with no button left to press
    page = (await client.get(path)).text
    assert heading(page) == "您已取消求助" and "您已取消求助" in title(page)
    assert "我没事了" not in page and "正在赶来" not in shown(page) and "已经处理好了" not in shown(page)
    # And the alert is resolved, as cancelled by her, with an audit line
    alert = await db.get(SosAlert, alert_id, populate_existing=True)
    assert (
        alert.status == "resolved"
        and alert.cancelled_at is not None
        and alert.resolved_at == alert.cancelled_at
    )
    audited = (
        await db.exec(
            select(AuditEvent).where(AuditEvent.action == "sos.cancel", AuditEvent.subject_id == alert_id)
        )
    ).all()
    assert [a.actor_id for a in audited] == [resident.id]
    # And everyone alerted is told she is fine, once each, in their language; she is not told herself
    told = await cancel_notices(db, alert_id)
    assert set(told) == {steward.id, agent.id, son.id}
    assert told[steward.id].title == "王秀英已取消求助，说自己没事了"
    assert told[agent.id].title == "王秀英 cancelled the call for help: they are fine"
    assert told[steward.id].link == f"/staff/support/sos/{alert_id}" and told[son.id].link == path
    # And the staff page says she cancelled it, not that staff dealt with it, with no button to press
    await page_login(client, STEWARD_XIUSHAN)
    staff = (await client.get(f"/staff/support/sos/{alert_id}")).text
    assert "王秀英已取消求助，说自己没事了" in shown(staff) and "已经处理好了" not in shown(staff)
    assert "我马上去" not in staff and 'name="resolve"' not in staff
    # And it has left the staff homes' open alerts
    assert f"/staff/support/sos/{alert_id}" not in (await client.get("/")).text
    # And her son's page says so too
    await page_login(client, FAMILY_OF_XIUSHAN)
    assert "王秀英已取消求助，说自己没事了" in shown((await client.get(path)).text)


async def test_a_second_cancel_or_a_cancel_after_resolve_is_refused_and_changes_nothing(client, db):
    # Given 王秀英 cancelled one SOS, and a steward resolved another
    cancelled = await raise_sos(client, RESIDENT_XIUSHAN)
    resolved = await raise_sos(client, RESIDENT_XIUSHAN)
    token = await page_login(client, STEWARD_XIUSHAN)
    await client.post(f"/staff{resolved}", data={"csrf_token": token, "resolve": "1"})
    token = await page_login(client, RESIDENT_XIUSHAN)
    await client.post(f"{cancelled}/cancel", data={"csrf_token": token, "confirm": "1"})
    before = {
        path: (await db.get(SosAlert, int(path.rsplit("/", 1)[1]), populate_existing=True)).model_dump()
        for path in (cancelled, resolved)
    }
    notices = len((await db.exec(select(Notification.id))).all())
    for path in (cancelled, resolved):
        # When she confirms a cancel again (an old page, a double tap)
        again = await client.post(f"{path}/cancel", data={"csrf_token": token, "confirm": "1"})
        # Then she reads why, in her language, and nothing changed: the state, the time, nobody told again
        assert again.status_code == 409 and "这次求助已经结束了" in again.text
        alert = await db.get(SosAlert, int(path.rsplit("/", 1)[1]), populate_existing=True)
        assert alert.model_dump() == before[path]
        # And the first tap (the button on an old page) lands on the page as it is now, no confirm offered
        first = await client.post(f"{path}/cancel", data={"csrf_token": token})
        assert first.status_code == 303 and first.headers["location"] == path
    assert len((await db.exec(select(Notification.id))).all()) == notices
    # And the one staff resolved still reads as dealt with by staff, not cancelled by her
    page = (await client.get(resolved)).text
    assert heading(page) == "已经处理好了。" and before[resolved]["cancelled_at"] is None


async def test_only_she_may_cancel_not_her_family_nor_a_stranger(client, db, gql: GraphQLClient):
    # Given 王秀英's open SOS
    path = await raise_sos(client, RESIDENT_XIUSHAN)
    alert_id = int(path.rsplit("/", 1)[1])
    sid = path.rsplit("/", 1)[1]
    for phone in (FAMILY_OF_XIUSHAN, RESIDENT_JINGJU, STEWARD_XIUSHAN):
        # When her son (who may read it), a neighbour of another home, or her steward tries to call it off
        token = await page_login(client, phone)
        for data in ({"csrf_token": token}, {"csrf_token": token, "confirm": "1"}):
            refused = await client.post(f"{path}/cancel", data=data)
            # Then the page is not there for them
            assert refused.status_code == 404, (phone, refused.status_code)
        # And her page offers them no such button
        if phone != RESIDENT_JINGJU:
            assert "/cancel" not in (await client.get(path)).text
        # And the API says the same (a bearer client: no cookies)
        client.cookies.clear()
        other = await login_demo(gql, phone)
        answer = await other(CANCEL_SOS, {"id": sid}, expect_errors=True)
        assert answer["data"] is None and answer["errors"][0]["message"] == "Not found."
    # And it is still open, and nobody was told anything
    alert = await db.get(SosAlert, alert_id, populate_existing=True)
    assert alert.status == "open" and alert.cancelled_at is None
    assert await cancel_notices(db, alert_id) == {}
    # While she can, through the API too; a second time is a typed, translated refusal
    client.cookies.clear()
    her = await login_demo(gql, RESIDENT_XIUSHAN)
    answer = (await her(CANCEL_SOS, {"id": sid}))["data"]["cancelSos"]
    assert answer == {
        "__typename": "SosRaised",
        "alert": {"id": sid, "status": "resolved", "cancelled": True},
    }
    again = (await her(CANCEL_SOS, {"id": sid}))["data"]["cancelSos"]
    assert again["code"] == "NOT_ALLOWED" and again["message"] == (
        "This call for help is already over: nothing was changed."
    )


async def test_a_cancel_that_fails_midway_changes_nothing_and_holds_nothing(own_app, monkeypatch):
    transport = httpx.ASGITransport(app=own_app, client=("10.9.8.7", 5000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # Given 王秀英's open SOS
        path = await raise_sos(client, RESIDENT_XIUSHAN)
        alert_id = int(path.rsplit("/", 1)[1])
        token = client.cookies["laoyou_csrf"]

        # When telling the staff fails after the alert was marked cancelled
        async def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("push outbox down")

        monkeypatch.setattr(sos_service.accounts, "do_notify", broken)
        failed = await asyncio.wait_for(
            client.post(f"{path}/cancel", data={"csrf_token": token, "confirm": "1"}), 20
        )
        monkeypatch.undo()
        assert failed.status_code >= 400  # the page fails (as any failed operation does); nothing is kept
        async with own_app.state.sessionmaker() as session:
            # Then nothing changed: still open, no audit line, nobody told
            alert = await session.get(SosAlert, alert_id)
            assert alert.status == "open" and alert.cancelled_at is None
            assert await cancel_notices(session, alert_id) == {}
            audited = await session.exec(select(AuditEvent.id).where(AuditEvent.action == "sos.cancel"))
            assert audited.all() == []
            # And nothing is left holding the database (the embedded worker may hold the gate for a moment)
            await assert_nothing_held(own_app, session, patience=5.0)
        # And the next try goes through at once
        done = await asyncio.wait_for(
            client.post(f"{path}/cancel", data={"csrf_token": token, "confirm": "1"}), 20
        )
        assert done.status_code == 303
        assert "您已取消求助" in (await client.get(path)).text
