"""The staff home: an open SOS of the steward's communities comes first (who, where, their phone, a button to
take it), and the 新消息 badge opens the list of the person's own notifications, which reads them."""

from __future__ import annotations

import re

from sqlmodel import select

from laoyou.accounts.models import AuditEvent, Notification, Person
from laoyou.core.phone import national, normalise_phone
from laoyou.core.time import local
from laoyou.graphql.types import decode_id

from ..conftest import (
    FAMILY_OF_XIUSHAN,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)
from .test_pages import page_login

HOMES = "query { viewer { ownHouseholdIds } }"
RAISE = """
mutation ($household: ID!, $client: String!) {
  raiseSos(householdId: $household, clientId: $client) { __typename ... on SosRaised { alert { id } } }
}
"""
ALERTS = "query { sosAlerts { id residentPhone } }"
ALERT = "query ($id: ID!) { sosAlert(id: $id) { id residentPhone } }"
UNREAD = "query { viewer { unreadNotifications } }"


async def raise_sos(gql) -> str:  # noqa: ANN001
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    household = (await resident(HOMES))["data"]["viewer"]["ownHouseholdIds"][0]
    raised = (await resident(RAISE, {"household": household, "client": "staff-home-sos"}))["data"]["raiseSos"]
    return raised["alert"]["id"]


async def person(db, phone: str) -> Person:  # noqa: ANN001
    return (await db.exec(select(Person).where(Person.phone == normalise_phone(phone)))).one()


def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</section>", start)]


async def test_an_sos_comes_first_on_the_stewards_home_with_phone_and_a_button_to_take_it(gql, client, db):
    # Given 王秀英 pressed SOS at home
    alert_id = await raise_sos(gql)
    resident = await person(db, RESIDENT_XIUSHAN)
    # When her steward opens his home
    client.headers["Accept-Language"] = "en"
    token = await page_login(client, STEWARD_XIUSHAN)
    home = (await client.get("/")).text
    # Then the alert comes before anything else, as an alert, with her name, home, time and whole phone
    assert re.search(r"<title>Staff home · Laoyou</title>", home) and home.count("js/chat.") == 1
    assert 'role="alert"' in home and home.index("data-sos-alerts") < home.index('href="/briefings"')
    alert = section(home, f'data-sos-alert="{alert_id}"')
    phone = national(resident.phone)
    assert "王秀英" in alert and "秀山花园" in alert and f'href="tel:{phone}"' in alert
    assert "Nobody has answered yet" in alert
    assert f'action="/staff/support/sos/{alert_id}"' in alert and "I am going" in alert
    # And his reading her phone is audited
    steward = await person(db, STEWARD_XIUSHAN)
    audited = await db.exec(
        select(AuditEvent).where(AuditEvent.actor_id == steward.id, AuditEvent.action == "sos.read_phone")
    )
    assert decode_id(alert_id) in [a.subject_id for a in audited]
    # When he takes it with the button
    taken = await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token})
    assert taken.status_code == 303
    # Then his home says he is coming and offers to mark it dealt with
    alert = section((await client.get("/")).text, f'data-sos-alert="{alert_id}"')
    assert "is coming" in alert and 'name="resolve"' in alert
    # And once it is dealt with it leaves his home
    await client.post(f"/staff/support/sos/{alert_id}", data={"csrf_token": token, "resolve": "1"})
    assert f'data-sos-alert="{alert_id}"' not in (await client.get("/")).text


async def test_a_steward_of_another_community_sees_no_sos_of_ours_nor_the_phone(gql, client, db):
    # Given 王秀英's SOS in 秀山花园
    alert_id = await raise_sos(gql)
    resident = await person(db, RESIDENT_XIUSHAN)
    # When the steward of 岳阳花苑 asks for alerts, and opens his home
    other = await login_demo(gql, STEWARD_YUEYANG)
    listed = (await other(ALERTS))["data"]["sosAlerts"]
    refused = await other(ALERT, {"id": alert_id}, expect_errors=True)
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    seen_by_family = (await family(ALERT, {"id": alert_id}))["data"]["sosAlert"]
    await page_login(client, STEWARD_YUEYANG)
    home = (await client.get("/")).text
    # Then he sees none of it
    assert f'data-sos-alert="{alert_id}"' not in home and national(resident.phone) not in home
    assert alert_id not in [a["id"] for a in listed]
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # And her family, who may see the alert, are not given her number through it
    assert seen_by_family["residentPhone"] is None


async def test_the_badge_opens_my_own_notifications_newest_first_and_opening_reads_them(gql, client, db):
    # Given an SOS, which told the steward (and 王秀英's family, in a notification of their own)
    alert_id = await raise_sos(gql)
    steward = await person(db, STEWARD_XIUSHAN)
    family = await person(db, FAMILY_OF_XIUSHAN)
    mine = (
        await db.exec(
            select(Notification).where(Notification.person_id == steward.id).order_by(Notification.id.desc())  # type: ignore[union-attr]
        )
    ).all()
    theirs = (await db.exec(select(Notification).where(Notification.person_id == family.id))).all()
    assert mine[0].link == f"/staff/support/sos/{decode_id(alert_id)}" and theirs
    # When the steward opens his home
    client.headers["Accept-Language"] = "en"
    await page_login(client, STEWARD_XIUSHAN)
    home = (await client.get("/")).text
    # Then the 新消息 badge counts what is unread and opens the list
    unread = sum(1 for n in mine if n.read_at is None)
    link = re.search(r'<a class="button primary" href="/notifications"[^>]*>(.*?)</a>', home, re.S)
    assert link and f">{unread}</span>" in link.group(1)
    # When he opens it
    listed = (await client.get("/notifications")).text
    # Then his notifications are there newest first, each at its local time, linked to what it is about
    first = listed.index(f'href="/staff/support/sos/{decode_id(alert_id)}"')
    assert local(mine[0].created_at).strftime("%Y-%m-%d %H:%M") in listed[first - 400 : first]
    titles = [n.title for n in mine if n.title in listed]
    assert titles and [listed.index(t) for t in titles] == sorted(listed.index(t) for t in titles)
    assert ">New<" in listed
    # And nobody else's are
    assert not [n.title for n in theirs if n.title in listed]
    # And opening the list read them: the list no longer says New, the badge is gone
    assert ">New<" not in (await client.get("/notifications")).text
    home = (await client.get("/")).text
    assert re.search(r"data-unread-box hidden>0</span>", home)
    client.cookies.clear()
    me = await login_demo(gql, STEWARD_XIUSHAN)
    assert (await me(UNREAD))["data"]["viewer"]["unreadNotifications"] == 0
