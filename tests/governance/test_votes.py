"""Owners' votes through the API: an owner votes once on the phone, family only with a recorded proxy, paper and
online never both for one household, the live count for officials only, certification after the deadline by an
official, and the decision it takes in billing (the demo's 京剧院小区 moved from trial to cost phase)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from laoyou.accounts.models import Notification, Person
from laoyou.billing.models import FeePlan, FeePlanItem
from laoyou.core.time import utcnow
from laoyou.estates.models import Community, Household
from laoyou.governance.votes.models import Ballot, Vote
from laoyou.media.models import MediaFile

from ..conftest import (
    FAMILY_OF_XIUSHAN,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    login_demo,
)

VOTES = """query { votes { nodes { id title status special outcome community { name }
    myBallots { householdId choice onPaper }
    tally { votedOwners totalOwners votedAreaM2 totalAreaM2 participationArea participationOwners
            approvalArea approvalOwners quorum outcome } } } }"""
VOTE = """query ($id: ID!) { vote(id: $id) { id status outcome myBallots { householdId choice onPaper }
    tally { votedOwners yesOwners yesAreaM2 votedAreaM2 outcome } households { id label channel } } }"""
CAST = """mutation ($v: ID!, $h: ID!, $c: VoteChoice!) { castBallot(voteId: $v, householdId: $h, choice: $c) {
    __typename ... on VoteSaved { vote { myBallots { householdId choice } } } ... on Error { code message field } } }"""
PAPER = """mutation ($v: ID!, $h: ID!, $c: VoteChoice!, $p: ID!) {
    recordPaperBallot(voteId: $v, householdId: $h, choice: $c, photoId: $p) {
    __typename ... on Error { code message field } } }"""
PROXY = """mutation ($v: ID!, $h: ID!, $phone: String!) {
    recordVoteProxy(voteId: $v, householdId: $h, phone: $phone, note: "委托书存物业办公室") {
    __typename ... on Error { code message field } } }"""
CERTIFY = """mutation ($id: ID!) { certifyVote(id: $id) {
    __typename ... on VoteSaved { vote { status outcome tally { outcome } } } ... on Error { code message } } }"""
PROPOSE = """mutation ($input: ProposeVoteInput!) { proposeVote(input: $input) {
    __typename ... on VoteSaved { vote { id status special } } ... on Error { code message field } } }"""


async def open_vote(client) -> dict:  # noqa: ANN001
    found = (await client(VOTES))["data"]["votes"]["nodes"]
    return next(v for v in found if v["status"] == "OPEN")


async def photo_of(db, phone: str, community: str) -> str:  # noqa: ANN001
    person = (await db.exec(select(Person).where(Person.phone == "+86" + phone))).one()
    place = (await db.exec(select(Community).where(Community.name == community))).one()
    row = MediaFile(
        community_id=place.id,
        district_id=place.district_id,
        uploaded_by_id=person.id,
        kind="image",
        content_type="image/jpeg",
        size_bytes=10,
        storage_key=f"test/ballot-{utcnow().timestamp()}",
        sha256="0" * 64,
    )
    db.add(row)
    await db.commit()
    return str(row.id)


async def test_an_owner_votes_once_online_and_the_official_follows_the_count(gql):
    # Given the open vote of 秀山花园, its resident, and its official
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    vote = await open_vote(resident)
    assert vote["tally"] is None  # residents see the result once certified, not the live count
    [mine] = vote["myBallots"]
    assert mine["choice"] is None
    before = (await official(VOTE, {"id": vote["id"]}))["data"]["vote"]["tally"]

    # When she votes for, then changes her mind before the deadline
    first = (await resident(CAST, {"v": vote["id"], "h": mine["householdId"], "c": "YES"}))["data"][
        "castBallot"
    ]
    assert first["vote"]["myBallots"] == [{"householdId": mine["householdId"], "choice": "YES"}]
    again = (await resident(CAST, {"v": vote["id"], "h": mine["householdId"], "c": "NO"}))["data"][
        "castBallot"
    ]

    # Then one ballot counts for her household, with her last choice
    assert again["vote"]["myBallots"][0]["choice"] == "NO"
    after = (await official(VOTE, {"id": vote["id"]}))["data"]["vote"]["tally"]
    assert after["votedOwners"] == before["votedOwners"] + 1
    assert after["yesOwners"] == before["yesOwners"]


async def test_paper_and_online_never_both_for_one_household(gql, db):
    # Given the resident voted online
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    vote = await open_vote(resident)
    household = vote["myBallots"][0]["householdId"]
    await resident(CAST, {"v": vote["id"], "h": household, "c": "YES"})
    photo = await photo_of(db, STEWARD_XIUSHAN, "秀山花园")

    # When the steward enters a paper ballot for the same household
    refused = (await steward(PAPER, {"v": vote["id"], "h": household, "c": "NO", "p": photo}))["data"]

    # Then it is refused in plain words, and the online ballot stands
    assert refused["recordPaperBallot"]["code"] == "ALREADY_EXISTS"
    assert refused["recordPaperBallot"]["message"] == "This household has already voted."
    ballots = list(await db.exec(select(Ballot).where(Ballot.household_id == int(household))))
    assert [(b.channel, b.choice) for b in ballots] == [("online", "yes")]


async def test_a_paper_ballot_needs_its_photo_and_locks_the_household_online(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    vote = await open_vote(steward)
    households = (await steward(VOTE, {"id": vote["id"]}))["data"]["vote"]["households"]
    free = next(h for h in households if h["channel"] is None)
    # Without a photo of its own
    other = await photo_of(db, RESIDENT_XIUSHAN, "秀山花园")
    no_photo = (await steward(PAPER, {"v": vote["id"], "h": free["id"], "c": "YES", "p": other}))["data"]
    assert no_photo["recordPaperBallot"]["field"] == "photoId"
    photo = await photo_of(db, STEWARD_XIUSHAN, "秀山花园")
    saved = (await steward(PAPER, {"v": vote["id"], "h": free["id"], "c": "YES", "p": photo}))["data"]
    assert saved["recordPaperBallot"]["__typename"] == "VoteSaved"
    again = (await steward(VOTE, {"id": vote["id"]}))["data"]["vote"]["households"]
    assert next(h for h in again if h["id"] == free["id"])["channel"] == "paper"


async def test_family_votes_only_with_a_proxy_the_steward_recorded(gql):
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    vote = await open_vote(resident)
    household = vote["myBallots"][0]["householdId"]
    assert (await open_vote(family))["myBallots"] == []
    refused = (await family(CAST, {"v": vote["id"], "h": household, "c": "YES"}))["data"]["castBallot"]
    assert refused["code"] == "NOT_ALLOWED"

    recorded = (await steward(PROXY, {"v": vote["id"], "h": household, "phone": FAMILY_OF_XIUSHAN}))["data"]
    assert recorded["recordVoteProxy"]["__typename"] == "VoteSaved"
    voted = (await family(CAST, {"v": vote["id"], "h": household, "c": "YES"}))["data"]["castBallot"]
    assert voted["vote"]["myBallots"] == [{"householdId": household, "choice": "YES"}]
    # A stranger's phone is no proxy
    wrong = (await steward(PROXY, {"v": vote["id"], "h": household, "phone": "13800000002"}))["data"]
    assert wrong["recordVoteProxy"]["code"] in ("INVALID", "ALREADY_EXISTS")


async def test_certified_after_the_deadline_by_an_official_and_no_change_after(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    vote = await open_vote(resident)
    early = (await official(CERTIFY, {"id": vote["id"]}))["data"]["certifyVote"]
    assert early["code"] == "NOT_ALLOWED"

    await db.exec(
        update(Vote).where(Vote.id == int(vote["id"])).values(deadline=utcnow() - timedelta(minutes=1))
    )
    await db.commit()
    late = await resident(CAST, {"v": vote["id"], "h": vote["myBallots"][0]["householdId"], "c": "YES"})
    assert late["data"]["castBallot"]["code"] == "NOT_ALLOWED"
    by_steward = await steward(CERTIFY, {"id": vote["id"]}, expect_errors=True)
    assert by_steward["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    certified = (await official(CERTIFY, {"id": vote["id"]}))["data"]["certifyVote"]
    assert certified["vote"]["status"] == "CERTIFIED"
    # The demo's Xiushan vote has about half the owners: fewer than two thirds took part.
    assert certified["vote"]["outcome"] == "NO_QUORUM"
    published = (await resident(VOTE, {"id": vote["id"]}))["data"]["vote"]
    assert published["tally"]["outcome"] == "NO_QUORUM" and published["households"] is None


async def test_the_demo_moved_jingju_from_trial_to_cost_with_the_vote_as_decision(gql, db):
    resident = await login_demo(gql, RESIDENT_JINGJU)
    [vote] = (await resident(VOTES))["data"]["votes"]["nodes"]
    assert vote["status"] == "CERTIFIED" and vote["outcome"] == "PASSED"
    assert vote["tally"]["votedOwners"] == 14 and vote["tally"]["totalOwners"] == 16
    plan = (await db.exec(select(FeePlan).where(FeePlan.decision_ref.startswith("业主表决 #")))).one()
    assert (plan.status, plan.phase) == ("active", "cost")
    assert plan.decision_ref.startswith(f"业主表决 #{vote['id']} ")


async def test_a_proposed_phase_is_activated_when_certified(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    place = (await db.exec(select(Community).where(Community.name == "秀山花园"))).one()
    draft = FeePlan(
        district_id=place.district_id,
        community_id=place.id,
        scope_key=f"c:{place.id}",
        version=9,
        name="秀山花园质价双升",
        phase="market",
    )
    db.add(draft)
    await db.flush()
    db.add(FeePlanItem(plan_id=draft.id, name="物业服务费", kind="per_m2", unit_price_fen=90))
    await db.commit()
    base = {"communityId": str(place.id), "title": "新收费方案", "body": "", "matter": "ADOPT_PHASE"}
    past = await steward(
        PROPOSE, {"input": base | {"deadline": utcnow().isoformat(), "feePlanId": str(draft.id)}}
    )
    assert past["data"]["proposeVote"]["field"] == "deadline"
    no_plan = await steward(
        PROPOSE, {"input": base | {"deadline": (utcnow() + timedelta(days=7)).isoformat()}}
    )
    assert no_plan["data"]["proposeVote"]["field"] == "feePlanId"
    made = await steward(
        PROPOSE,
        {
            "input": base
            | {"deadline": (utcnow() + timedelta(days=7)).isoformat(), "feePlanId": str(draft.id)}
        },
    )
    vote_id = made["data"]["proposeVote"]["vote"]["id"]
    # Every owner votes for (entered as if on paper), then the deadline passes and the official certifies
    everyone = [int(h["id"]) for h in (await official(VOTE, {"id": vote_id}))["data"]["vote"]["households"]]
    for household_id in everyone:
        db.add(
            Ballot(
                vote_id=int(vote_id),
                household_id=household_id,
                community_id=place.id,
                choice="yes",
                channel="paper",
            )
        )
    await db.exec(
        update(Vote).where(Vote.id == int(vote_id)).values(deadline=utcnow() - timedelta(minutes=1))
    )
    await db.commit()
    certified = (await official(CERTIFY, {"id": vote_id}))["data"]["certifyVote"]
    assert certified["vote"]["outcome"] == "PASSED"
    # The residents were told when it opened and when its result was published
    resident = (await db.exec(select(Person).where(Person.phone == "+86" + RESIDENT_XIUSHAN))).one()
    told = list(
        await db.exec(
            select(Notification).where(
                Notification.person_id == resident.id, Notification.link == f"/votes/{vote_id}"
            )
        )
    )
    assert len(told) == 2
    await db.refresh(draft)
    assert draft.status == "active" and draft.decision_ref.startswith(f"业主表决 #{vote_id} ")


async def test_a_household_that_withdrew_no_longer_counts(gql, db):
    # Given the resident voted, and the official's count
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    vote = await open_vote(resident)
    household = vote["myBallots"][0]["householdId"]
    before = (await official(VOTE, {"id": vote["id"]}))["data"]["vote"]["tally"]
    await resident(CAST, {"v": vote["id"], "h": household, "c": "YES"})
    # When her household is archived (the flat merged or demolished) before the count
    await db.exec(update(Household).where(Household.id == int(household)).values(archived_at=utcnow()))
    await db.commit()
    # Then neither its ballot nor its area counts, and it is no longer among the owners
    after = (await official(VOTE, {"id": vote["id"]}))["data"]["vote"]
    assert after["tally"]["votedOwners"] == before["votedOwners"]
    assert after["tally"]["yesOwners"] == before["yesOwners"]
    assert household not in {h["id"] for h in after["households"]}


PAGE = """query ($first: Int, $after: String) { votes(first: $first, after: $after) {
    nodes { id title } pageInfo { hasNextPage endCursor } } }"""


async def test_the_votes_are_read_a_page_at_a_time_newest_first(gql, client, db):
    # Given 秀山花园's open vote and 35 certified ones of its years of votes
    open_vote = (await db.exec(select(Vote).where(Vote.certified_at.is_(None)))).first()
    for i in range(35):
        db.add(
            Vote(
                community_id=open_vote.community_id,
                district_id=open_vote.district_id,
                title=f"往年表决 {i}",
                matter="use_fund",
                deadline=utcnow() - timedelta(days=400 - i),
                proposed_by_id=open_vote.proposed_by_id,
                certified_by_id=open_vote.proposed_by_id,
                certified_at=utcnow() - timedelta(days=399 - i),
                outcome="no_quorum",
            )
        )
    await db.commit()
    resident = await login_demo(gql, RESIDENT_XIUSHAN)

    # When she reads them ten at a time
    seen, after = [], None
    while True:
        page = (await resident(PAGE, {"first": 10, "after": after}))["data"]["votes"]
        seen += [v["id"] for v in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # Then every vote she may see comes once, the open one first, then the others newest first, and no page
    # is larger than asked
    assert len(seen) == 36 and len(set(seen)) == 36
    assert seen[0] == str(open_vote.id) and seen[1:] == sorted(seen[1:], key=int, reverse=True)
    too_many = await resident(PAGE, {"first": 1000}, expect_errors=True)
    assert too_many["errors"][0]["message"] == "Ask for between 1 and 100 items."

    # And the list page shows the open vote first, then a link to the earlier ones, which it opens
    headers = {"Authorization": f"Bearer {resident.token}", "Accept-Language": "en"}
    listed = await client.get("/votes", headers=headers)
    assert listed.text.index(open_vote.title) < listed.text.index("往年表决 34")
    earlier = re.search(r'href="(/votes\?after=[^"]+)">Earlier votes<', listed.text)
    assert earlier is not None and "往年表决 0" not in listed.text
    older = await client.get(earlier.group(1).replace("&amp;", "&"), headers=headers)
    assert older.status_code == 200 and "往年表决 0" in older.text and open_vote.title not in older.text
