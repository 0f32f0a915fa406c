"""Stewards post briefings to the communities they serve; residents and family read and thank; receipts count
households; drafts, schedules, corrections and withdrawal behave as residents expect."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from laoyou.accounts.models import Notification, Person
from laoyou.briefings import service as briefings
from laoyou.briefings.models import Briefing
from laoyou.core.time import utcnow

from ..conftest import (
    FAMILY_OF_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)
from .helpers import (
    BRIEFING,
    CREATE,
    LIST,
    MARK_READ,
    PUBLISH,
    SHARED,
    THANK,
    TODAY,
    UPDATE,
    WITHDRAW,
    briefing_input,
    community_ids,
    post_briefing,
)


async def notifications_of(db, phone: str) -> list[Notification]:  # noqa: ANN001
    person = (await db.exec(select(Person).where(Person.phone == "+86" + phone))).first()
    return list(await db.exec(select(Notification).where(Notification.person_id == person.id)))


async def test_published_briefing_reaches_residents_and_family_and_receipts_count_households(gql, db):
    # Given the steward of 秀山花园, a resident there and her son following her household
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    # When the steward publishes today's briefing
    posted = await post_briefing(steward, [xiushan])
    # Then the resident and the family member see it today, and both were notified
    for reader in (resident, family):
        today = (await reader(TODAY))["data"]["todaysBriefings"]
        assert today[0]["id"] == posted["id"]  # newest first (the demo has one of its own today)
        assert today[0]["readByMe"] is False
    assert any(n.link == f"/briefings/{posted['id']}" for n in await notifications_of(db, RESIDENT_XIUSHAN))
    assert any(n.kind == "briefings" for n in await notifications_of(db, FAMILY_OF_XIUSHAN))
    # When both of the same household read it (one of them twice)
    for reader in (resident, family, resident):
        assert (await reader(MARK_READ, {"id": posted["id"]}))["data"]["markBriefingRead"][
            "__typename"
        ] == "BriefingRead"
    # Then the steward sees one household of 秀山花园 has read it
    receipts = (await steward(BRIEFING, {"id": posted["id"]}))["data"]["briefing"]["readReceipts"]
    assert len(receipts) == 1 and receipts[0]["community"]["id"] == xiushan
    assert receipts[0]["householdsRead"] == 1
    assert receipts[0]["households"] > 1
    # And the resident's thanks (tapped twice) count once
    for _ in range(2):
        thanked = (await resident(THANK, {"id": posted["id"]}))["data"]["thankBriefing"]
        assert thanked["briefing"]["thankedByMe"] is True
    receipts = (await steward(BRIEFING, {"id": posted["id"]}))["data"]["briefing"]["readReceipts"]
    assert receipts[0]["thanks"] == 1
    # And residents see neither receipts nor the share link
    seen = (await resident(BRIEFING, {"id": posted["id"]}))["data"]["briefing"]
    assert seen["readReceipts"] == [] and seen["shareUrl"] is None and seen["readByMe"] is True


async def test_drafts_schedules_corrections_and_withdrawal(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    # Given a draft: residents cannot see it
    draft = await post_briefing(steward, [xiushan], mode="DRAFT")
    assert draft["status"] == "DRAFT"
    missing = await resident(BRIEFING, {"id": draft["id"]}, expect_errors=True)
    assert missing["errors"][0]["message"] == "Not found."
    assert draft["id"] not in [b["id"] for b in (await resident(TODAY))["data"]["todaysBriefings"]]
    # When it is scheduled for the future, it is still hidden; when the job runs after its time, it is published
    scheduled = (
        await steward(
            CREATE,
            {
                "input": briefing_input([xiushan], title="明早停水预告"),
                "mode": "SCHEDULED",
                "publishAt": (utcnow() + timedelta(hours=1)).isoformat(),
            },
        )
    )["data"]["createBriefing"]
    assert scheduled["briefing"]["status"] == "SCHEDULED"
    assert await briefings.do_publish_due(db) == 0
    assert await briefings.do_publish_due(db, now=utcnow() + timedelta(hours=2)) == 1
    assert await briefings.do_publish_due(db, now=utcnow() + timedelta(hours=2)) == 0  # once only
    await db.commit()
    assert (await resident(BRIEFING, {"id": scheduled["briefing"]["id"]}))["data"]["briefing"][
        "status"
    ] == "PUBLISHED"
    # A schedule in the past is refused
    past = (
        await steward(
            CREATE,
            {
                "input": briefing_input([xiushan]),
                "mode": "SCHEDULED",
                "publishAt": (utcnow() - timedelta(hours=1)).isoformat(),
            },
        )
    )["data"]["createBriefing"]
    assert past["__typename"] == "BriefingError" and past["field"] == "publishAt"
    # When the draft is published and then corrected, residents see it marked edited
    assert (await steward(PUBLISH, {"id": draft["id"]}))["data"]["publishBriefing"]["briefing"][
        "status"
    ] == "PUBLISHED"
    corrected = await steward(
        UPDATE, {"id": draft["id"], "input": briefing_input([xiushan], title="今日工作简报（更正）")}
    )
    assert corrected["data"]["updateBriefing"]["briefing"]["editedAt"] is not None
    seen = (await resident(BRIEFING, {"id": draft["id"]}))["data"]["briefing"]
    assert seen["title"] == "今日工作简报（更正）" and seen["editedAt"] is not None
    # When it is withdrawn, residents no longer see it; the steward still does
    assert (await steward(WITHDRAW, {"id": draft["id"]}))["data"]["withdrawBriefing"]["briefing"][
        "status"
    ] == "WITHDRAWN"
    assert (await resident(BRIEFING, {"id": draft["id"]}, expect_errors=True))["errors"]
    assert draft["id"] not in [b["id"] for b in (await resident(LIST))["data"]["briefings"]["nodes"]]
    assert draft["id"] in [b["id"] for b in (await steward(LIST))["data"]["briefings"]["nodes"]]


async def test_one_briefing_for_several_communities(gql, db):
    # Given the steward of 岳阳花苑, who also serves the attached 京剧院小区
    steward = await login_demo(gql, STEWARD_YUEYANG)
    ids = await community_ids(steward)
    assert set(ids) == {"岳阳花苑", "京剧院小区"}
    # When one briefing is posted to both
    posted = await post_briefing(steward, list(ids.values()))
    # Then 京剧院小区's resident sees it, and receipts are kept per community
    jingju = await login_demo(gql, RESIDENT_JINGJU)
    assert (await jingju(TODAY))["data"]["todaysBriefings"][0]["id"] == posted["id"]
    await jingju(MARK_READ, {"id": posted["id"]})
    receipts = {
        r["community"]["id"]: r
        for r in (await steward(BRIEFING, {"id": posted["id"]}))["data"]["briefing"]["readReceipts"]
    }
    assert receipts[ids["京剧院小区"]]["householdsRead"] == 1
    assert receipts[ids["岳阳花苑"]]["householdsRead"] == 0


async def test_strangers_can_neither_post_nor_read_nor_see_receipts(gql, db):
    xiushan_steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(xiushan_steward))["秀山花园"]
    posted = await post_briefing(xiushan_steward, [xiushan])
    # Another community's steward cannot post to 秀山花园
    other = await login_demo(gql, STEWARD_YUEYANG)
    denied = await other(CREATE, {"input": briefing_input([xiushan]), "mode": "NOW"}, expect_errors=True)
    assert denied["errors"][0]["message"] == "Not found."
    # Nor read its briefing or receipts, nor change it
    for query, variables in (
        (BRIEFING, {"id": posted["id"]}),
        (WITHDRAW, {"id": posted["id"]}),
        (UPDATE, {"id": posted["id"], "input": briefing_input([xiushan])}),
    ):
        assert (await other(query, variables, expect_errors=True))["errors"][0]["message"] == "Not found."
    # Another community's resident cannot read, mark read or thank
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    for query in (BRIEFING, MARK_READ, THANK):
        assert (await stranger(query, {"id": posted["id"]}, expect_errors=True))["errors"][0][
            "message"
        ] == "Not found."
    assert posted["id"] not in [b["id"] for b in (await stranger(TODAY))["data"]["todaysBriefings"]]
    # A resident cannot post at all
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await resident(CREATE, {"input": briefing_input([xiushan]), "mode": "NOW"}, expect_errors=True))[
        "errors"
    ]
    # And nobody logged out gets anything
    anonymous = gql.as_token(None)
    assert (await anonymous(BRIEFING, {"id": posted["id"]}, expect_errors=True))["errors"]


async def test_share_page_is_public_has_no_personal_data_and_ends_with_withdrawal(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    posted = await post_briefing(steward, [xiushan])
    token = posted["shareUrl"].rsplit("/", 1)[1]
    assert len(token) >= 30
    # Anyone with the link sees it, without personal data
    shared = (await gql.as_token(None)(SHARED, {"token": token}))["data"]["sharedBriefing"]
    assert shared["communityNames"] == ["秀山花园"]
    page = await client.get(f"/share/briefings/{token}")
    assert page.status_code == 200 and "今日工作简报" in page.text
    assert "张建国" not in page.text and "138" not in page.text
    # A guessed token finds nothing; withdrawal ends the link
    assert (await client.get("/share/briefings/guessed-token")).status_code == 404
    await steward(WITHDRAW, {"id": posted["id"]})
    assert (await client.get(f"/share/briefings/{token}")).status_code == 404


async def test_validation_errors_are_payloads(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    before = await db.scalar(select(func.count()).select_from(Briefing))
    cases = {
        "title": briefing_input([xiushan], title=""),
        "items": briefing_input([xiushan], items=[{"kind": "OTHER", "text": "x" * 101}]),
        "communityIds": briefing_input([]),
        "photoIds": briefing_input([xiushan], photoIds=["999999"]),
    }
    for field, value in cases.items():
        result = (await steward(CREATE, {"input": value, "mode": "NOW"}))["data"]["createBriefing"]
        assert result["__typename"] == "BriefingError" and result["field"] == field, (field, result)
    assert await db.scalar(select(func.count()).select_from(Briefing)) == before


async def test_demo_has_recent_briefings_for_both_communities(gql, db):
    for phone in (RESIDENT_XIUSHAN, RESIDENT_JINGJU):
        reader = await login_demo(gql, phone)
        titles = [b["title"] for b in (await reader(LIST))["data"]["briefings"]["nodes"]]
        assert len(titles) >= 3
        assert (await reader(TODAY))["data"]["todaysBriefings"]
