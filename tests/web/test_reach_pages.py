"""Reach pages: her channel choices on the settings page, an emergency notice's page (opening it stops its climb),
a notice's ?r= link, the steward's report with calls to the rest, and the costs with the operator's caps."""

from __future__ import annotations

import re

from sqlmodel import select

from laoyou.accounts.models import RoleGrant
from laoyou.estates.models import Building, Household, Unit
from laoyou.notify.reach.models import Reach, ReachChoice, ReachSend

from ..briefings.helpers import community_ids
from ..conftest import (
    ADMIN,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)

CSRF = "page-csrf-token-reach"


def as_person(token: str | None) -> dict:
    headers = {"Accept-Language": "en", "Cookie": f"laoyou_csrf={CSRF}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {"headers": headers}


async def send_notice(client, gql) -> str:  # noqa: ANN001
    """A steward of 秀山花园 sends an emergency notice; its id, from the page's list of recent notices."""
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    sent = await client.post(
        "/staff/emergency",
        **as_person(steward.token),
        data={
            "csrf_token": CSRF,
            "community_ids": xiushan,
            "kind": "water_cut",
            "title": "今晚停水",
            "body": "8点到10点",
        },
    )
    assert sent.status_code == 303, sent.text
    shown = await client.get(sent.headers["location"], **as_person(steward.token))
    found = re.search(r'href="/staff/emergency/([^/"]+)/reach"', shown.text)
    assert found, "the steward's page links each notice to its reach report"
    return found.group(1)


async def my_id(gql, phone: str) -> int:  # noqa: ANN001
    person = await login_demo(gql, phone)
    return int((await person("{ viewer { person { id } } }"))["data"]["viewer"]["person"]["id"])


async def test_she_chooses_how_she_is_reached_and_a_mistake_changes_nothing(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # Given the settings page: every way on, no quiet hours, and WeChat explained since she has no link
    page = await client.get("/settings/notifications", **as_person(resident.token))
    assert page.status_code == 200
    assert 'name="channel_sms" checked' in page.text and 'name="quiet" value="off" checked' in page.text
    assert "open Laoyou in WeChat once" in page.text and 'name="channel_wechat" value="on"' in page.text
    assert "Emergencies always come through" in page.text
    # When she keeps SMS and calls, asks to be called and chooses 22:00–07:00
    saved = await client.post(
        "/settings/notifications/reach",
        **as_person(resident.token),
        data={
            "csrf_token": CSRF,
            "channel_sms": "on",
            "channel_voice": "on",
            "call_me": "on",
            "quiet": "22:00-07:00",
        },
    )
    # Then it is saved and the page shows it
    assert saved.status_code == 303 and "reach_saved=1" in saved.headers["location"]
    page = await client.get("/settings/notifications?reach_saved=1", **as_person(resident.token))
    assert 'name="call_me" checked' in page.text and 'value="22:00-07:00" checked' in page.text
    assert 'name="channel_push">' in page.text
    person_id = await my_id(gql, RESIDENT_XIUSHAN)
    row = (await db.exec(select(ReachChoice).where(ReachChoice.person_id == person_id))).one()
    assert (row.call_me, row.quiet_start, row.quiet_end) == (True, 22 * 60, 7 * 60)
    assert set(row.off.split(",")) == {"push", "wechat"}
    # When she asks to be called with calls switched off, or sends a time that is not one
    for form in (
        {"call_me": "on", "channel_sms": "on", "quiet": "off"},
        {"channel_sms": "on", "quiet": "25:00-07:00"},
    ):
        refused = await client.post(
            "/settings/notifications/reach", **as_person(resident.token), data={"csrf_token": CSRF, **form}
        )
        # Then she is told in her language and nothing changed
        assert refused.status_code == 400
        assert "keep phone calls switched on" in refused.text or "choose a time of day" in refused.text
    await db.refresh(row)
    assert (row.call_me, row.quiet_start) == (True, 22 * 60)


async def test_the_emergency_page_shows_the_notice_and_reading_it_stops_the_climb(gql, client, db):
    notice_id = await send_notice(client, gql)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    person_id = await my_id(gql, RESIDENT_XIUSHAN)
    reach = (
        await db.exec(
            select(Reach).where(Reach.person_id == person_id, Reach.event_key == f"emergency:{notice_id}")
        )
    ).one()
    assert reach.opened_at is None
    # When she opens the notice's page
    page = await client.get(f"/emergencies/{notice_id}", **as_person(resident.token))
    # Then she reads it, can have it read aloud and call the service centre, and its climb to her stopped
    assert page.status_code == 200 and "今晚停水" in page.text and "8点到10点" in page.text
    assert "data-read-aloud" in page.text and 'href="tel:' in page.text
    await db.refresh(reach)
    assert reach.opened_at is not None and reach.opened_via == "app"
    # And a resident of another community, or nobody logged in, cannot open it
    other = await login_demo(gql, RESIDENT_JINGJU)
    assert (await client.get(f"/emergencies/{notice_id}", **as_person(other.token))).status_code == 404
    assert (await client.get(f"/emergencies/{notice_id}", **as_person(None))).headers["location"] == "/login"


async def test_a_notices_link_opened_before_login_stops_the_climb_and_a_forged_one_breaks_nothing(
    gql, client, db
):
    notice_id = await send_notice(client, gql)
    reach = (
        await db.exec(
            select(Reach).where(Reach.event_key == f"emergency:{notice_id}", Reach.state == "climbing")
        )
    ).first()
    # When an SMS link is opened in a browser that is not logged in
    page = await client.get(f"/login?r={reach.token}.sms")
    assert page.status_code == 200
    # Then the climb stopped, and it says by what
    await db.refresh(reach)
    assert reach.state == "opened" and reach.opened_via == "sms"
    # And a forged or overlong value is ignored: the page opens as ever
    for forged in ("nothing.sms", "x" * 400, "."):
        assert (await client.get(f"/login?r={forged}")).status_code == 200


async def test_the_steward_sees_who_was_reached_and_calls_the_rest(gql, client, db):
    notice_id = await send_notice(client, gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await client.get(f"/emergencies/{notice_id}", **as_person(resident.token))
    # Given the report: she was reached in the app, the others not yet, each with a number to call
    page = await client.get(f"/staff/emergency/{notice_id}/reach", **as_person(steward.token))
    assert page.status_code == 200
    assert "Not reached yet" in page.text and "Opened it in the app" in page.text
    assert re.search(r'href="tel:1\d{10}"', page.text)
    # And each person's flat, to knock on her door when no call gets through
    person_id = await my_id(gql, RESIDENT_XIUSHAN)
    building, unit = (
        await db.exec(
            select(Building.name, Unit.number)
            .join(Unit, Unit.building_id == Building.id)
            .join(Household, Household.unit_id == Unit.id)
            .join(RoleGrant, RoleGrant.household_id == Household.id)
            .where(RoleGrant.person_id == person_id, RoleGrant.role == "resident")
        )
    ).first()
    assert f"{building} {unit}" in page.text
    # When the steward taps to call everyone not reached
    called = await client.post(
        f"/staff/emergency/{notice_id}/reach", **as_person(steward.token), data={"csrf_token": CSRF}
    )
    # Then calls are queued for them, within the caps
    assert called.status_code == 200 and ("on their way" in called.text or "on its way" in called.text)
    calls = (
        await db.exec(select(ReachSend).where(ReachSend.channel == "voice", ReachSend.status == "pending"))
    ).all()
    assert calls
    # And another community's steward, an official and a resident cannot open it
    for phone, status in ((STEWARD_YUEYANG, 404), (OFFICIAL_XIUSHAN, 404), (RESIDENT_XIUSHAN, 404)):
        other = await login_demo(gql, phone)
        assert (
            await client.get(f"/staff/emergency/{notice_id}/reach", **as_person(other.token))
        ).status_code == status
    assert (
        await client.post(f"/staff/emergency/{notice_id}/reach", data={"csrf_token": CSRF})
    ).status_code in (303, 307)


async def test_costs_show_per_community_and_the_admin_sets_a_cap(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    page = await client.get("/staff/reach/costs", **as_person(steward.token))
    # Given a steward: her communities' counts, no form
    assert page.status_code == 200 and "秀山花园" in page.text and 'name="monthly"' not in page.text
    assert "岳阳花苑" not in page.text
    admin = await login_demo(gql, ADMIN)
    page = await client.get("/staff/reach/costs", **as_person(admin.token))
    community_id = re.search(r'name="community_id" value="([^"]+)"', page.text).group(1)
    # When the admin sets a cap, and then one that is not a number
    saved = await client.post(
        "/staff/reach/costs",
        **as_person(admin.token),
        data={"csrf_token": CSRF, "community_id": community_id, "channel": "sms", "monthly": "250"},
    )
    assert saved.status_code == 303
    refused = await client.post(
        "/staff/reach/costs",
        **as_person(admin.token),
        data={"csrf_token": CSRF, "community_id": community_id, "channel": "sms", "monthly": "lots"},
    )
    # Then the first is kept, the second refused in words and changing nothing
    assert refused.status_code == 400 and "whole number" in refused.text
    page = await client.get("/staff/reach/costs", **as_person(admin.token))
    assert "of 250" in page.text
    # And a resident gets nothing, a steward cannot set a cap
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await client.get("/staff/reach/costs", **as_person(resident.token))).status_code == 404
    denied = await client.post(
        "/staff/reach/costs",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "community_id": community_id, "channel": "sms", "monthly": "1"},
    )
    assert denied.status_code == 404


async def test_a_failure_opening_a_link_never_breaks_the_page_or_holds_the_gate(own_app, monkeypatch):
    from laoyou.notify.reach import service as reach

    from .conftest import assert_released, browser

    async def broken(session, *, opened):  # noqa: ANN001, ANN202
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reach, "do_open", broken)
    # When a notice's link is opened and opening it fails
    async with browser(own_app) as http:
        page = await http.get("/login?r=sometoken.sms")
    # Then the page opens as ever, and nothing is left holding the write gate or a connection
    assert page.status_code == 200
    await assert_released(own_app, "after a notice's link failed to open")


async def test_without_its_script_the_settings_page_says_what_this_browser_can_do(gql, client):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    headers = as_person(resident.token)["headers"]
    wechat = "Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 Mobile Safari/537.36 MicroMessenger/8.0.40"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
    page = await client.get("/settings/notifications", headers={**headers, "User-Agent": wechat})
    assert "This browser cannot show notifications" in page.text
    page = await client.get("/settings/notifications", headers={**headers, "User-Agent": iphone})
    assert "only when Laoyou is on the home screen" in page.text


async def test_opening_the_page_a_notice_is_about_in_the_app_stops_its_climb(gql, client, db):
    from laoyou.accounts import service as accounts

    # Given two important notices climbing to her: a bill, and one whose link has a query
    person_id = await my_id(gql, RESIDENT_XIUSHAN)
    for link in ("/bills", "/?checkin=push"):
        await accounts.do_notify(db, person_id=person_id, kind="bill_overdue", title="物业费待缴", link=link)
    await db.flush()
    climbing = select(Reach).where(Reach.person_id == person_id, Reach.state == "climbing")
    links = {r.link: r for r in (await db.exec(climbing)).all()}
    assert {"/bills", "/?checkin=push"} <= set(links)
    # When another resident opens the same page, hers climbs on
    other = await login_demo(gql, RESIDENT_JINGJU)
    assert (await client.get("/bills", **as_person(other.token))).status_code == 200
    await db.refresh(links["/bills"])
    assert links["/bills"].opened_at is None
    # When she opens her bills in the app, not from the notice
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await client.get("/bills", **as_person(resident.token))).status_code == 200
    # Then that notice stopped climbing, opened in the app; the other climbs on until she opens its page
    await db.refresh(links["/bills"])
    await db.refresh(links["/?checkin=push"])
    assert links["/bills"].state == "opened" and links["/bills"].opened_via == "app"
    assert links["/?checkin=push"].opened_at is None
    assert (await client.get("/?checkin=push&r=bogus.push", **as_person(resident.token))).status_code == 200
    await db.refresh(links["/?checkin=push"])
    assert links["/?checkin=push"].state == "opened"


async def test_marking_a_page_seen_refuses_a_bad_address_and_changes_nothing(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    before = (await db.exec(select(Reach.id, Reach.state, Reach.opened_at))).all()
    for path in ("bills", "/" + "x" * 300, ""):
        answer = await resident(
            "mutation ($p: String!) { markPageSeen(path: $p) { __typename ... on Error { field code message } } }",
            {"p": path},
        )
        result = answer["data"]["markPageSeen"]
        assert result["__typename"] == "NoticeSeenError" and result["field"] == "path", result
    assert (await db.exec(select(Reach.id, Reach.state, Reach.opened_at))).all() == before
    # And nobody logged in cannot use it at all
    anonymous = await gql('mutation { markPageSeen(path: "/bills") { __typename } }', expect_errors=True)
    assert anonymous["errors"][0]["message"] == "Please log in first."


async def test_a_failure_marking_a_page_seen_never_breaks_the_page_or_holds_the_gate(own_app, monkeypatch):
    from laoyou.notify.reach import service as reach

    from .conftest import assert_released, bearer, browser

    async def broken(session, *, actor, path):  # noqa: ANN001, ANN202
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reach, "do_mark_page_seen", broken)
    async with browser(own_app) as http:
        token = await bearer(http, RESIDENT_XIUSHAN)
        page = await http.get("/bills", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and "/login" not in page.headers.get("location", "")
    await assert_released(own_app, "after marking a page seen failed")


REACH_PAGE = """
query ($id: ID!, $first: Int, $after: String, $before: String, $building: String, $reached: Boolean! = false) {
  emergencyReach(noticeId: $id) {
    reached unreached
    peoplePage(reached: $reached, first: $first, after: $after, before: $before, building: $building) {
      hasNextPage endCursor nodes { personId building }
    }
  }
}
"""


def called_rows(html: str) -> list[str]:
    """The numbers the page offers to call, in order: one per person listed as not reached."""
    return re.findall(r'<a class="call" href="tel:(\d+)"', html)


async def test_a_large_community_is_shown_a_page_and_a_building_at_a_time(gql, client, db):
    from ..graphql.test_query_counts import add_households

    # Given 秀山花园 with a building of 60 more households (90 more people), and a notice only one has opened
    await add_households(db, "秀山花园", 60)
    notice_id = await send_notice(client, gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await client.get(f"/emergencies/{notice_id}", **as_person(resident.token))
    counts = (await steward(REACH_PAGE, {"id": notice_id, "first": 1}))["data"]["emergencyReach"]
    assert counts["reached"] == 1 and counts["unreached"] >= 90

    # When the steward opens the report
    page = await client.get(f"/staff/emergency/{notice_id}/reach", **as_person(steward.token))
    # Then the counts are on top, the call-the-rest button under them, and only the first 50 not reached
    assert page.status_code == 200
    assert "1 person reached" in page.text and f"{counts['unreached']} people not yet" in page.text
    assert page.text.index("people not yet") < page.text.index("Call everyone not reached")
    first_rows = called_rows(page.text)
    assert len(first_rows) == 50
    # the reached are counted by how, not listed; a link shows them
    assert "Opened it in the app: <strong>1 person</strong>" in page.text
    assert "list=reached" in page.text and "Reached</h2>" not in page.text
    # each building is a link with its count, the new one among them
    assert re.search(
        r'href="[^"]*building=%E6%B5%8B%E8%AF%95%E6%A5%BC"[^>]*>测试楼 <span class="count">90</span>',
        page.text,
    )
    assert "Previous page" not in page.text
    following = re.search(r'<a class="button primary" rel="next" href="([^"]+)"', page.text).group(1)

    # When she taps the next page
    second = await client.get(following.replace("&amp;", "&"), **as_person(steward.token))
    # Then it holds the next people, none of the first page's, and goes back
    assert second.status_code == 200 and "Previous page" in second.text
    assert called_rows(second.text) and not set(called_rows(second.text)) & set(first_rows)

    # When she walks one building: only its people, pages keeping the building
    building = await client.get(
        f"/staff/emergency/{notice_id}/reach?building=测试楼", **as_person(steward.token)
    )
    assert building.status_code == 200 and 'aria-current="page">测试楼' in building.text
    assert "· 测试楼</h2>" in building.text and '<h3 class="reach-group">' not in building.text
    assert len(called_rows(building.text)) == 50
    following = re.search(r'rel="next" href="([^"]+)"', building.text).group(1).replace("&amp;", "&")
    assert "building=%E6%B5%8B%E8%AF%95%E6%A5%BC" in following
    rest = await client.get(following, **as_person(steward.token))
    assert len(called_rows(rest.text)) == 40 and 'rel="next"' not in rest.text

    # When she asks to see who was reached: her, and how
    reached = await client.get(f"/staff/emergency/{notice_id}/reach?list=reached", **as_person(steward.token))
    assert (
        reached.status_code == 200
        and "Reached</h2>" in reached.text
        and "Opened it in the app" in reached.text
    )
    assert not called_rows(reached.text) and reached.text.count('<span class="tel">') == 1

    # When a page link was edited, or cut short: the first page, and why, in her language
    for bad in ("?after=garbage", "?before=eyJ4Ijox", "?building=" + "楼" * 120):
        refused = await client.get(f"/staff/emergency/{notice_id}/reach{bad}", **as_person(steward.token))
        assert refused.status_code == 400 and 'role="alert"' in refused.text, bad
        assert len(called_rows(refused.text)) == 50
    chinese = {"headers": {**as_person(steward.token)["headers"], "Accept-Language": "zh-CN"}}
    refused = await client.get(f"/staff/emergency/{notice_id}/reach?after=garbage", **chinese)
    assert refused.status_code == 400 and "这个页面链接无效。" in refused.text

    # And the call-the-rest button calls everyone not reached, not only those on the page
    called = await client.post(
        f"/staff/emergency/{notice_id}/reach", **as_person(steward.token), data={"csrf_token": CSRF}
    )
    assert called.status_code == 200 and "calls are on their way" in called.text
    pending = (
        await db.exec(select(ReachSend).where(ReachSend.channel == "voice", ReachSend.status == "pending"))
    ).all()
    assert len({s.reach_id for s in pending}) == counts["unreached"]


async def test_the_reach_pages_arguments_are_checked_and_strangers_are_refused_as_before(gql, client):
    notice_id = await send_notice(client, gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    # Given a page of two, its cursor leads on to the next two
    first = (await steward(REACH_PAGE, {"id": notice_id, "first": 2}))["data"]["emergencyReach"]["peoplePage"]
    assert len(first["nodes"]) == 2 and first["hasNextPage"]
    after = (await steward(REACH_PAGE, {"id": notice_id, "first": 2, "after": first["endCursor"]}))["data"]
    assert not {n["personId"] for n in after["emergencyReach"]["peoplePage"]["nodes"]} & {
        n["personId"] for n in first["nodes"]
    }
    # and the old field, kept for clients that ask for it, still lists everyone
    old = "query ($id: ID!) { emergencyReach(noticeId: $id) { reached unreached people { personId } } }"
    everyone = (await steward(old, {"id": notice_id}))["data"]["emergencyReach"]
    assert len(everyone["people"]) == everyone["reached"] + everyone["unreached"] > 2
    # When the arguments are wrong: a clear message naming the argument, and no data
    for variables, message in (
        ({"first": -1}, "Ask for between 1 and 100 items."),
        ({"first": 1000}, "Ask for between 1 and 100 items."),
        ({"after": "%%%"}, "That page link is not valid."),
        ({"after": first["endCursor"], "before": first["endCursor"]}, "That page link is not valid."),
    ):
        answer = await steward(REACH_PAGE, {"id": notice_id, **variables}, expect_errors=True)
        assert answer["errors"][0]["message"] == message, answer
        assert answer["errors"][0]["extensions"]["code"] == "INVALID"
        assert not answer.get("data")
    # And a stranger gets the same refusal with the new arguments as without them
    plain = "query ($id: ID!) { emergencyReach(noticeId: $id) { reached } }"
    for phone in (STEWARD_YUEYANG, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN):
        other = await login_demo(gql, phone)
        without = await other(plain, {"id": notice_id}, expect_errors=True)
        with_paging = await other(
            REACH_PAGE,
            {"id": notice_id, "first": 5, "after": first["endCursor"], "building": "1号楼", "reached": True},
            expect_errors=True,
        )
        assert without["errors"][0]["message"] == with_paging["errors"][0]["message"], phone
        assert not without.get("data") and not with_paging.get("data")
        # and the old way of reading a page's arguments gives no more: a wrong cursor is still "not found"
        worse = await other(REACH_PAGE, {"id": notice_id, "after": "garbage"}, expect_errors=True)
        assert worse["errors"][0]["message"] == without["errors"][0]["message"], phone
