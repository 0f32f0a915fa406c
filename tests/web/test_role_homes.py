"""Each role's home shows what that role may use, and nothing it may not (the crawl proves that what is shown
works); a resident's and a family member's begin with what they need most."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from laoyou.accounts.models import Notification, Person
from laoyou.billing.models import Payment
from laoyou.estates.models import Community, Household

from ..conftest import (
    ADMIN,
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_XIUSHAN,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
)
from .conftest import bearer, csrf_in, log_in

BOARD, WORK, FIGURES, EMERGENCY, SUPPORT = (
    "/board",
    "/work",
    "/board/figures",
    "/staff/emergency",
    "/staff/support",
)

SHOWN = {
    STEWARD_XIUSHAN: {BOARD, WORK, FIGURES, EMERGENCY, SUPPORT},
    FIELD_ZHUJIAJIAO: {WORK},
    AGENT_NANNING: {BOARD, FIGURES, SUPPORT},
    OFFICIAL_XIUSHAN: {BOARD, FIGURES},
    OFFICIAL_ZHUJIAJIAO: {BOARD, FIGURES},
    ADMIN: {BOARD, WORK, FIGURES, EMERGENCY, SUPPORT},
}


def links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]*)"', html))


@pytest.mark.parametrize("phone", SHOWN)
async def test_a_staff_home_links_to_what_the_role_may_use_and_each_opens(client, db, phone):
    # Given a member of staff
    await log_in(client, phone)
    # When they open their home
    home = await client.get("/")
    # Then it links to exactly the work pages their role may use
    assert links(home.text) & {BOARD, WORK, FIGURES, EMERGENCY, SUPPORT} == SHOWN[phone]
    # And each of them opens
    for path in SHOWN[phone]:
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize(
    ("phone", "cards"),
    [(STEWARD_XIUSHAN, True), (OFFICIAL_XIUSHAN, False), (FIELD_ZHUJIAJIAO, False), (AGENT_NANNING, False)],
)
async def test_login_cards_are_offered_to_those_who_may_print_them(client, db, phone, cards):
    # Given a member of staff on the households page of one of their communities
    await log_in(client, phone)
    community = re.search(r'href="(/staff/communities/\d+/households)"', (await client.get("/")).text).group(
        1
    )
    page = await client.get(community)
    assert page.status_code == 200
    # Then the 打印登录卡 links are there only for those who may print cards, and open for them
    printed = sorted(p for p in links(page.text) if p.endswith("/cards"))
    assert bool(printed) is cards
    for path in printed[:2]:
        assert (await client.get(path)).status_code == 200, path


async def test_the_officials_figures_lead_back_to_a_board_that_opens(client, db):
    # Given 周主任 on the work-order figures
    await log_in(client, OFFICIAL_XIUSHAN)
    figures = await client.get(FIGURES)
    assert figures.status_code == 200
    # When they go back to the board (回到工单看板)
    back = re.search(r'href="(/board\?district=\d+)"', figures.text).group(1)
    board = await client.get(back)
    # Then it opens, without the steward's return visits and field workers
    assert board.status_code == 200
    assert "/board/staff" not in board.text


async def test_the_admin_sees_the_board_of_every_district(client, db):
    # Given the operator's admin, who has no district of their own
    await log_in(client, ADMIN)
    board = await client.get(BOARD)
    # Then the board opens on the first district and offers every other
    assert board.status_code == 200
    districts = sorted(set(re.findall(r'href="(/board\?district=\d+)"', board.text)))
    assert len(districts) == 3
    for path in districts:
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize(("phone", "pool"), [(STEWARD_XIUSHAN, False), (FIELD_ZHUJIAJIAO, True)])
async def test_my_work_shows_the_pool_of_repairs_to_field_staff_only(client, db, phone, pool):
    # Given a steward (who takes complaints) or a field worker (who takes repairs from the pool)
    await log_in(client, phone)
    # When they open 我的工单
    work = await client.get(WORK)
    # Then it opens, with the pool for the field worker only
    assert work.status_code == 200
    assert ('id="pool-title"' in work.text) is pool


def first_screen(html: str) -> str:
    start = html.index('<nav class="first-screen"')
    return html[start : html.index("</nav>", start)]


async def test_the_resident_home_starts_with_what_she_needs_most_and_works_without_javascript(client, db):
    # Given 王秀英, and what she owes as the bills page's operation counts it
    token = await bearer(client, RESIDENT_XIUSHAN)
    owed = await client.post(
        "/graphql",
        json={"query": "query { myAmountsDue(first: 60) { due { fen yuan } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    due = owed.json()["data"]["myAmountsDue"]
    await log_in(client, RESIDENT_XIUSHAN)
    # When she opens her home
    home = (await client.get("/")).text
    first = first_screen(home)
    # Then it begins with the call to her steward, SOS (a link to its confirm page), 交费, 报修 and 问客服, in order
    places = [first.index(s) for s in ('class="call" href="tel:', 'href="/support/sos"', 'href="/bills"')]
    places += [first.index(s) for s in ('href="/repairs/new"', 'href="/support"')]
    assert places == sorted(places)
    assert "给王秀英打电话" not in first  # calling her own number is for the family
    # And 交费 says what is due, or that nothing is
    if due:
        assert f"要交 ¥{due[0]['due']['yuan']}" in first
    else:
        assert "没有要交的费" in first
    # And the SOS link's page offers 确认求助 and 取消 as a plain form
    confirm = (await client.get("/support/sos")).text
    assert "确认求助" in confirm and 'action="/support/sos"' in confirm and 'href="/">取消' in confirm


async def test_a_message_she_has_read_is_still_found_from_her_home(client, db):
    # Given 王秀英 with a message, read on her home page's card
    await log_in(client, RESIDENT_XIUSHAN)
    person = (await db.execute(select(Person).where(Person.phone == "+86" + RESIDENT_XIUSHAN))).scalar_one()
    db.add(Notification(person_id=person.id, kind="notice", title="明天上午停水", body="8点到12点停水。"))
    await db.commit()
    home = (await client.get("/")).text
    assert "明天上午停水" in home
    read = await client.post("/notifications/read", data={"csrf_token": csrf_in(home)})
    assert read.status_code == 303
    # When she opens her home again, the card is gone
    home = (await client.get("/")).text
    assert "明天上午停水" not in home
    # Then the home's 我的消息 tile leads to the list, where the message still is, and on to its settings
    assert 'href="/notifications"' in home and "我的消息" in home
    messages = (await client.get("/notifications")).text
    assert "明天上午停水" in messages and 'href="/settings/notifications"' in messages


async def test_family_home_calls_the_resident_they_follow(client, db):
    # Given 王小明, who follows his mother's home
    await log_in(client, FAMILY_OF_XIUSHAN)
    # When he opens his home
    first = first_screen((await client.get("/")).text)
    # Then its first screen has her steward, a call to her, and SOS for her home
    assert "给他们的管家打电话" in first
    assert 'href="tel:13800000001"' in first and "给王秀英打电话" in first
    assert 'href="/support/sos"' in first


async def test_a_page_whose_every_use_the_role_is_refused_is_not_there_for_it(client, db):
    """Opened by its address, not by a link (none is shown): an official walked a refund to its last step
    before it was refused, and field staff filled in a resident's form for nothing."""
    xiushan = (await db.execute(select(Community.id).where(Community.name == "秀山花园"))).scalar_one()
    household = (
        (await db.execute(select(Household.id).where(Household.community_id == xiushan))).scalars().first()
    )
    payment = (await db.execute(select(Payment.id).where(Payment.community_id == xiushan))).scalars().first()
    pages = [
        "/staff/emergency",
        f"/staff/households/{household}/residents",
        f"/staff/payments/{payment}/refund",
    ]
    for phone in (OFFICIAL_XIUSHAN, AGENT_NANNING, FIELD_ZHUJIAJIAO):
        client.cookies.clear()
        await log_in(client, phone)
        for path in pages:
            assert (await client.get(path)).status_code == 404, (phone, path)
        refused = await client.post(pages[0], data={"csrf_token": csrf_in((await client.get("/")).text)})
        assert refused.status_code == 404, phone
    client.cookies.clear()
    await log_in(client, STEWARD_XIUSHAN)
    for path in pages:
        assert (await client.get(path)).status_code == 200, path
