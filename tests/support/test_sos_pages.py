"""The SOS pages say what happened, to whoever is looking: a double tap raises one SOS, the resident is told her
family knows only when they do, a resolved SOS reads as resolved, nobody is said to be coming before someone
answered, her family read who asked for help and where, and staff get her number and the state."""

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

from laoyou.accounts.models import Notification, Person
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
            gate = WriteGate.of(own_app.state.engine)
            if gate is not None:
                assert gate.holders == 0
            else:
                idle = await session.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state LIKE 'idle in transaction%'"
                    )
                )
                assert idle.scalar_one() == 0
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
