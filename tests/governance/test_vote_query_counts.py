"""The list of owners' votes costs the same SQL statements for thirty votes as for three, for every viewer:
each vote's count, the viewer's own ballots and the steward's owners are read for the whole list at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import select

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.time import utcnow
from laoyou.estates.models import Community, District, Household
from laoyou.governance.votes.models import Ballot, Vote, VoteProxy

from ..conftest import (
    ADMIN,
    FAMILY_OF_XIUSHAN,
    OFFICIAL_XIUSHAN,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    login_demo,
)
from ..graphql.conftest import sql_statements  # noqa: F401 (the fixture)

# Everything a page of votes can ask of each vote, as an official or steward would
FULL_LIST = """query ($first: Int) { votes(first: $first) {
    nodes { id status community { name } myBallots { householdId choice onPaper }
            tally { votedOwners yesOwners totalAreaM2 outcome } households { id label channel } }
    pageInfo { hasNextPage endCursor } } }"""
ZHUJIAJIAO = "朱家角镇老旧小区联合招标片区"
VIEWERS = (RESIDENT_XIUSHAN, FAMILY_OF_XIUSHAN, STEWARD_XIUSHAN, OFFICIAL_XIUSHAN, OFFICIAL_ZHUJIAJIAO, ADMIN)


async def person_id(db, phone: str) -> int:  # noqa: ANN001
    return (await db.exec(select(Person.id).where(Person.phone == "+86" + phone))).one()


async def add_votes(db, count: int) -> None:  # noqa: ANN001
    """`count` more votes, open, waiting for certification and certified in turn, in 秀山花园 and in the
    communities of the Zhujiajiao district; each with ballots of some owners, the resident's household's among
    them, and for every other vote a proxy for the family member of 秀山花园."""
    xiushan = (await db.exec(select(Community).where(Community.name == "秀山花园"))).one()
    district = (await db.exec(select(District).where(District.name == ZHUJIAJIAO))).one()
    zhujiajiao = list(await db.exec(select(Community).where(Community.district_id == district.id)))
    official = await person_id(db, OFFICIAL_XIUSHAN)
    steward = await person_id(db, STEWARD_XIUSHAN)
    family = await person_id(db, FAMILY_OF_XIUSHAN)
    resident = await person_id(db, RESIDENT_XIUSHAN)
    home = (
        await db.exec(
            select(RoleGrant.household_id).where(
                RoleGrant.person_id == resident, RoleGrant.role == Role.resident.value
            )
        )
    ).first()
    now = utcnow()
    for i in range(count):
        community = xiushan if i % 2 == 0 else zhujiajiao[i % len(zhujiajiao)]
        certified = i % 3 == 2
        vote = Vote(
            community_id=community.id,
            district_id=community.district_id,
            title=f"测试表决 {i}",
            matter="use_fund",
            deadline=now + timedelta(days=10) if i % 3 == 0 else now - timedelta(days=1),
            proposed_by_id=official,
            certified_by_id=official if certified else None,
            certified_at=now if certified else None,
            outcome="no_quorum" if certified else None,
            total_area=100_000 if certified else None,
            total_owners=10 if certified else None,
            voted_area=1_000 if certified else None,
            voted_owners=1 if certified else None,
        )
        db.add(vote)
        await db.flush()
        households = list(
            await db.exec(
                select(Household.id)
                .where(Household.community_id == community.id)
                .order_by(Household.id)
                .limit(3)
            )
        )
        if community.id == xiushan.id:
            households = [home, *(h for h in households if h != home)][:3]
            if i % 4 == 0:
                db.add(
                    VoteProxy(
                        vote_id=vote.id,
                        household_id=home,
                        community_id=community.id,
                        person_id=family,
                        note="委托书存物业办公室",
                        recorded_by_id=steward,
                    )
                )
        if not households:
            continue
        await db.execute(
            insert(Ballot),
            [
                {
                    "vote_id": vote.id,
                    "household_id": h,
                    "community_id": community.id,
                    "choice": ("yes", "no", "abstain")[(i + n) % 3],
                    "channel": "online" if n else "paper",
                    "created_at": now,
                }
                for n, h in enumerate(households)
            ],
        )
    await db.commit()


async def test_the_votes_list_costs_the_same_for_thirty_votes_as_for_three(
    app,
    gql,
    client,
    db,
    sql_statements,  # noqa: F811
):
    counts: dict[Any, int] = {}
    shown: dict[Any, Any] = {}
    for label, more in (("few", 3), ("many", 27)):
        # Given three votes, then thirty, beside the demo's
        await add_votes(db, more)
        for phone in VIEWERS:
            viewer = await login_demo(gql, phone)
            # When each viewer asks for the list with everything a vote can show them
            counts[label, phone], result = await sql_statements.during(viewer(FULL_LIST, {"first": 100}))
            shown[label, phone] = result["data"]["votes"]["nodes"]
            # And opens the list page
            counts[label, phone, "page"], page = await sql_statements.during(
                client.get("/votes", headers={"Authorization": f"Bearer {viewer.token}"})
            )
            assert page.status_code == 200

    # Then the lists grew by the votes each viewer may see: 秀山花园 has the even ones of
    # each batch (14 of 27), Zhujiajiao the odd ones
    grew = {phone: len(shown["many", phone]) - len(shown["few", phone]) for phone in VIEWERS}
    assert grew == {
        RESIDENT_XIUSHAN: 14,
        FAMILY_OF_XIUSHAN: 14,
        STEWARD_XIUSHAN: 14,
        OFFICIAL_XIUSHAN: 14,
        OFFICIAL_ZHUJIAJIAO: 13,
        ADMIN: 27,
    }
    # And scoping is as it was: residents and family never see a live count nor the owners, the official of
    # another district none of 秀山花园's votes, the family member a ballot only where the steward recorded a proxy
    for label in ("few", "many"):
        for phone in (RESIDENT_XIUSHAN, FAMILY_OF_XIUSHAN):
            for vote in shown[label, phone]:
                assert vote["households"] is None
                assert (vote["tally"] is None) == (vote["status"] != "CERTIFIED"), vote
        assert {v["community"]["name"] for v in shown[label, OFFICIAL_ZHUJIAJIAO]}.isdisjoint({"秀山花园"})
        assert all(v["households"] is not None for v in shown[label, STEWARD_XIUSHAN])
        mine = [v["myBallots"] for v in shown[label, RESIDENT_XIUSHAN]]
        assert all(len(ballots) == 1 for ballots in mine)
        family = [len(v["myBallots"]) for v in shown[label, FAMILY_OF_XIUSHAN]]
        assert 0 in family and 1 in family
    # And every viewer's list and page cost as many statements for thirty votes as for three
    for phone in VIEWERS:
        assert counts["few", phone] == counts["many", phone], (phone, sql_statements.statements)
        assert counts["few", phone, "page"] == counts["many", phone, "page"], (
            phone,
            sql_statements.statements,
        )
