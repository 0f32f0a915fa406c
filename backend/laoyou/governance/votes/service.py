"""Owners' votes: who may propose, vote, record and certify, and the count. Scoped here, never in a resolver.

Officials and stewards of a community propose and follow the live count; its residents who own their home vote
online, a family member only with a proxy the steward recorded; the steward enters paper ballots with their
photo; an official certifies the result after the deadline, which takes the decision it names in billing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.billing import service as billing
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.pagination import Page
from laoyou.core.phone import normalise_phone
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, local, utcnow
from laoyou.estates import service as estates
from laoyou.governance.votes import counting
from laoyou.governance.votes.models import Ballot, Channel, Choice, Matter, Vote, VoteProxy
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile
from laoyou.notify import service as notify

MAX_OPEN_DAYS = 90
PHASE_MATTERS = {Matter.adopt_phase: "", Matter.adopt_package: "package"}


@dataclass(frozen=True)
class HouseholdVote:
    """One household in the steward's list: its share, and how it voted if it did."""

    share: estates.OwnerShare
    ballot: Ballot | None


async def _communities_as(session: AsyncSession, actor: Actor, *roles: Role) -> set[int] | None:
    """Communities the actor's grants of these roles cover (district grants and 挂单 included); None = all."""
    actor.require_login()
    if actor.is_admin:
        return None
    found = await estates.staff_community_ids(
        session, Actor(person=actor.person, grants=actor.grants_of(*roles))
    )
    return set() if found is None else found


async def _check_role(session: AsyncSession, actor: Actor, vote: Vote, *roles: Role) -> None:
    allowed = await _communities_as(session, actor, *roles)
    if allowed is not None and vote.community_id not in allowed:
        raise PermissionDenied()


def status(vote: Vote, now: datetime | None = None) -> str:
    if vote.certified_at is not None:
        return "certified"
    return "open" if (now or utcnow()) < as_utc(vote.deadline) else "counting"


async def access_vote(session: AsyncSession, *, actor: Actor, vote_id: int) -> Vote:
    """Residents, family and staff of the vote's community see it; anyone else is told it does not exist."""
    actor.require_login()
    vote = await session.get(Vote, vote_id)
    if vote is None:
        raise NotFound()
    visible = await estates.visible_community_ids(session, actor)
    if visible is not None and vote.community_id not in visible:
        raise NotFound()
    return vote


async def list_votes(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int | None = None,
    first: int,
    after: int | None = None,
) -> Page[Vote]:
    """The votes of the communities the actor sees (or of one of them): those still open or awaiting
    certification first, then the certified ones, each newest first; a page at a time (a community's years of
    votes, an official's district)."""
    actor.require_login()
    query = select(Vote)
    visible = await estates.visible_community_ids(session, actor)
    if community_id is not None:
        if visible is not None and community_id not in visible:
            raise NotFound()
        query = query.where(Vote.community_id == community_id)
    elif visible is not None:
        query = query.where(col(Vote.community_id).in_(visible))
    certified = col(Vote.certified_at).is_not(None)
    if after is not None:
        # The cursor is the last vote's id; which of the two runs it ended in is read from it, within the
        # actor's own votes (someone else's id tells nothing and continues among the certified ones).
        last = (await session.exec(query.where(Vote.id == after))).first()
        if last is not None and last.certified_at is None:
            query = query.where(((~certified) & (col(Vote.id) < after)) | certified)
        else:
            query = query.where(certified & (col(Vote.id) < after))
    rows = list(await session.exec(query.order_by(certified, col(Vote.id).desc()).limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


async def followed(session: AsyncSession, *, actor: Actor, votes: list[Vote]) -> set[int]:
    """The votes whose live count and owners the actor may follow: those of the communities they serve as an
    official or steward. Residents see the certified result only."""
    if not votes:
        return set()
    allowed = await _communities_as(session, actor, Role.official, Role.steward)
    return {v.id for v in votes if allowed is None or v.community_id in allowed}


def _certified_tally(vote: Vote) -> counting.Tally:
    return counting.Tally(
        total_area=vote.total_area or 0,
        total_owners=vote.total_owners or 0,
        voted_area=vote.voted_area or 0,
        voted_owners=vote.voted_owners or 0,
        yes_area=vote.yes_area or 0,
        yes_owners=vote.yes_owners or 0,
        no_area=vote.no_area or 0,
        no_owners=vote.no_owners or 0,
        special=Matter(vote.matter).special,
    )


async def _ballots_by_vote(session: AsyncSession, vote_ids: list[int]) -> dict[int, list[Ballot]]:
    found: dict[int, list[Ballot]] = {v: [] for v in vote_ids}
    if vote_ids:
        for ballot in await session.exec(
            select(Ballot).where(col(Ballot.vote_id).in_(vote_ids)).order_by(col(Ballot.id))
        ):
            found[ballot.vote_id].append(ballot)
    return found


async def tallies(session: AsyncSession, votes: list[Vote]) -> dict[int, counting.Tally]:
    """Each vote's count: as certified once certified; else counted now from its community's live households
    and its ballots, in two queries however many votes are being counted. Not scoped: see visible_tallies."""
    found = {v.id: _certified_tally(v) for v in votes if v.certified_at is not None}
    live = [v for v in votes if v.certified_at is None]
    if not live:
        return found
    shares = await estates.owner_shares(session, sorted({v.community_id for v in live}))
    cast = await _ballots_by_vote(session, [v.id for v in live])
    for vote in live:
        owners = [counting.Owner(s.household_id, s.floor_area_centi_m2) for s in shares[vote.community_id]]
        ballots = [counting.Cast(b.household_id, Choice(b.choice)) for b in cast[vote.id]]
        found[vote.id] = counting.count(owners, ballots, special=Matter(vote.matter).special)
    return found


async def tally(session: AsyncSession, vote: Vote) -> counting.Tally:
    """As certified once certified; else counted now from the live households and the ballots."""
    return (await tallies(session, [vote]))[vote.id]


async def visible_tallies(
    session: AsyncSession, *, actor: Actor, votes: list[Vote]
) -> dict[int, counting.Tally | None]:
    """The count each vote shows the actor: live for its community's officials and stewards, once certified
    for all; None where the actor may not follow it yet."""
    following = await followed(session, actor=actor, votes=[v for v in votes if v.certified_at is None])
    found = await tallies(session, [v for v in votes if v.certified_at is not None or v.id in following])
    return {v.id: found.get(v.id) for v in votes}


async def household_votes(
    session: AsyncSession, *, actor: Actor, votes: list[Vote]
) -> dict[int, list[HouseholdVote] | None]:
    """Every owner of each vote's community and their ballot, for the steward's paper entry and proxies; None
    for a vote whose count the actor may not follow. Two queries however many votes."""
    following = await followed(session, actor=actor, votes=votes)
    shown = [v for v in votes if v.id in following]
    shares = await estates.owner_shares(session, sorted({v.community_id for v in shown}))
    cast = await _ballots_by_vote(session, [v.id for v in shown])
    found: dict[int, list[HouseholdVote] | None] = {v.id: None for v in votes}
    for vote in shown:
        ballots = {b.household_id: b for b in cast[vote.id]}
        found[vote.id] = [HouseholdVote(s, ballots.get(s.household_id)) for s in shares[vote.community_id]]
    return found


async def my_households(session: AsyncSession, *, actor: Actor, votes: list[Vote]) -> dict[int, list[int]]:
    """For each vote, the households of its community the actor may vote for online: as an owner living there
    (a tenant does not vote), or as family holding a proxy the steward recorded (one query for all votes)."""
    if not actor.is_authenticated:
        return {v.id: [] for v in votes}
    owned: dict[int, set[int]] = {}
    family: dict[int, set[int]] = {}
    for g in actor.grants_of(Role.resident):
        if g.household_id and g.community_id and g.tenure != "tenant":
            owned.setdefault(g.community_id, set()).add(g.household_id)
    for g in actor.grants_of(Role.family):
        if g.household_id and g.community_id:
            family.setdefault(g.community_id, set()).add(g.household_id)
    # Family homes they do not own themselves, by vote: only a proxy for that vote lets them vote there.
    asking = {
        v.id: family.get(v.community_id, set()) - owned.get(v.community_id, set())
        for v in votes
        if family.get(v.community_id, set()) - owned.get(v.community_id, set())
    }
    proxies: set[tuple[int, int]] = set()
    if asking:
        proxies = set(
            await session.exec(
                select(VoteProxy.vote_id, VoteProxy.household_id).where(
                    col(VoteProxy.vote_id).in_(list(asking)),
                    VoteProxy.person_id == actor.person_id,
                    col(VoteProxy.household_id).in_(sorted(set().union(*asking.values()))),
                )
            )
        )
    return {
        v.id: sorted(
            owned.get(v.community_id, set()) | {h for h in asking.get(v.id, ()) if (v.id, h) in proxies}
        )
        for v in votes
    }


async def my_ballots(
    session: AsyncSession, *, actor: Actor, votes: list[Vote]
) -> dict[int, list[tuple[int, Ballot | None]]]:
    """For each vote, the actor's households that may vote (my_households) with their ballot if cast: two
    queries at most however many votes. Only those households' ballots: another's stays secret."""
    mine = await my_households(session, actor=actor, votes=votes)
    voting = [vote_id for vote_id, households in mine.items() if households]
    cast: dict[tuple[int, int], Ballot] = {}
    if voting:
        rows = await session.exec(
            select(Ballot).where(
                col(Ballot.vote_id).in_(voting),
                col(Ballot.household_id).in_(sorted({h for households in mine.values() for h in households})),
            )
        )
        cast = {(b.vote_id, b.household_id): b for b in rows}
    return {
        vote_id: [(h, cast.get((vote_id, h))) for h in households] for vote_id, households in mine.items()
    }


async def ballots_of(session: AsyncSession, vote: Vote, household_ids: list[int]) -> dict[int, Ballot]:
    if not household_ids:
        return {}
    rows = await session.exec(
        select(Ballot).where(Ballot.vote_id == vote.id, col(Ballot.household_id).in_(household_ids))
    )
    return {b.household_id: b for b in rows}


def _check_open(vote: Vote) -> None:
    if status(vote) != "open":
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This vote has closed; ballots can no longer be changed.")


async def do_propose_vote(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    title: str,
    body: str,
    matter: Matter,
    deadline: datetime,
    fee_plan_id: int | None = None,
    package: str = "",
) -> Vote:
    """An official or the steward puts a matter to the owners; its matter decides the threshold."""
    allowed = await _communities_as(session, actor, Role.official, Role.steward)
    community = await estates.access_community(session, actor=actor, community_id=community_id)
    if allowed is not None and community_id not in allowed:
        raise PermissionDenied()
    title, body, package = title.strip(), body.strip(), package.strip()
    if not 0 < len(title) <= 100:
        raise LaoyouError(ErrorCode.INVALID, "Give the vote a title of 1 to 100 characters.", field="title")
    check_text(title, field="title")
    if len(body) > 2000:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep the explanation within 2000 characters.", field="body"
        )
    check_text(body, field="body")
    now = utcnow()
    deadline = as_utc(deadline)
    if not now < deadline <= now + timedelta(days=MAX_OPEN_DAYS):
        raise LaoyouError(
            ErrorCode.INVALID,
            "The deadline must be after now and within %(days)s days.",
            field="deadline",
            days=MAX_OPEN_DAYS,
        )
    if matter in PHASE_MATTERS:
        if fee_plan_id is None:
            raise LaoyouError(
                ErrorCode.INVALID, "Choose the fee plan the owners decide on.", field="feePlanId"
            )
        if matter is Matter.adopt_package and not package:
            raise LaoyouError(ErrorCode.INVALID, "That add-on package is not in the plan.", field="package")
        if matter is Matter.adopt_phase:
            package = ""
        plan = await billing.access_fee_plan(session, actor=actor, plan_id=fee_plan_id)
        await billing.check_vote_decision(session, plan, community=community, package=package)
    else:
        fee_plan_id, package = None, ""
    vote = Vote(
        community_id=community_id,
        district_id=community.district_id,
        title=title,
        body=body,
        matter=matter.value,
        fee_plan_id=fee_plan_id,
        package=package,
        deadline=deadline,
        proposed_by_id=actor.person_id,
    )
    session.add(vote)
    await session.flush()
    await _tell_residents(
        session,
        vote,
        title=i18n.gettext("Owners' vote: %(title)s", title=vote.title),
        body=i18n.gettext("Please vote by %(when)s.", when=local(deadline).strftime("%Y-%m-%d %H:%M")),
    )
    return vote


async def _tell_residents(session: AsyncSession, vote: Vote, *, title: str, body: str) -> None:
    """Every resident of the community, and family following its households, gets a notification (and a push:
    an owners' vote is an account matter, always on)."""
    await notify.do_notify_people(
        session,
        person_ids=await notify.community_audience(session, [vote.community_id]),
        kind="owners_vote",
        title=title,
        body=body,
        link=f"/votes/{vote.id}",
        communities=[vote.community_id],  # one live-count event for the community, not one per person
    )


async def _insert_ballot(session: AsyncSession, ballot: Ballot) -> Ballot:
    """The unique key (vote, household) decides, also between an online tap and a paper entry at once."""
    try:
        async with session.begin_nested():
            session.add(ballot)
            await session.flush()
    except IntegrityError:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS, "This household has already voted.", field="householdId"
        ) from None
    return ballot


async def do_cast_ballot(
    session: AsyncSession, *, actor: Actor, vote_id: int, household_id: int, choice: Choice
) -> Ballot:
    """An owner's online ballot; until the deadline they may change their own online ballot, never a paper one."""
    vote = await access_vote(session, actor=actor, vote_id=vote_id)
    if household_id not in (await my_households(session, actor=actor, votes=[vote]))[vote.id]:
        if household_id in actor.household_ids:
            raise LaoyouError(
                ErrorCode.NOT_ALLOWED,
                "Only an owner, or family with a written proxy recorded by the steward, may vote.",
                field="householdId",
            )
        raise NotFound()
    _check_open(vote)
    existing = (await ballots_of(session, vote, [household_id])).get(household_id)
    proxy_id = None
    if household_id not in actor.resident_household_ids:
        proxy_id = await session.scalar(
            select(VoteProxy.id).where(VoteProxy.vote_id == vote.id, VoteProxy.household_id == household_id)
        )
    if existing is not None:
        if existing.channel != Channel.online.value:
            raise LaoyouError(
                ErrorCode.ALREADY_EXISTS, "This household has already voted on paper.", field="householdId"
            )
        existing.choice, existing.cast_by_id, existing.proxy_id = choice.value, actor.person_id, proxy_id
        session.add(existing)
        await session.flush()
        return existing
    return await _insert_ballot(
        session,
        Ballot(
            vote_id=vote.id,
            household_id=household_id,
            community_id=vote.community_id,
            choice=choice.value,
            channel=Channel.online.value,
            cast_by_id=actor.person_id,
            proxy_id=proxy_id,
        ),
    )


async def _steward_household(session: AsyncSession, *, actor: Actor, vote_id: int, household_id: int):  # noqa: ANN202
    vote = await access_vote(session, actor=actor, vote_id=vote_id)
    await _check_role(session, actor, vote, Role.steward)
    household = await estates.access_household_as_steward(session, actor=actor, household_id=household_id)
    if household.community_id != vote.community_id:
        raise NotFound()
    return vote, household


async def do_record_proxy(
    session: AsyncSession, *, actor: Actor, vote_id: int, household_id: int, phone: str, note: str
) -> VoteProxy:
    """The steward records a family member's written proxy: that person may then vote online for the household."""
    vote, household = await _steward_household(
        session, actor=actor, vote_id=vote_id, household_id=household_id
    )
    _check_open(vote)
    wanted = normalise_phone(phone)
    family = (await estates.residents_by_household(session, [household.id], role=Role.family))[household.id]
    person = next((p for p in family if p.phone == wanted), None)
    if person is None:
        raise LaoyouError(
            ErrorCode.INVALID, "That phone is not a family member linked to this household.", field="phone"
        )
    note = note.strip()
    if not 0 < len(note) <= 100:
        raise LaoyouError(ErrorCode.INVALID, "Say where the signed proxy is kept.", field="note")
    check_text(note, field="note")
    proxy = VoteProxy(
        vote_id=vote.id,
        household_id=household.id,
        community_id=vote.community_id,
        person_id=person.id,
        note=note,
        recorded_by_id=actor.person_id,
    )
    try:
        async with session.begin_nested():
            session.add(proxy)
            await session.flush()
    except IntegrityError:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS, "A proxy is already recorded for this household.", field="householdId"
        ) from None
    return proxy


async def do_record_paper_ballot(
    session: AsyncSession,
    *,
    actor: Actor,
    vote_id: int,
    household_id: int,
    choice: Choice,
    photo_id: int,
) -> Ballot:
    """The steward enters a ballot collected door to door, with its photo. Entry stays possible after the
    deadline until certification: ballots collected in time are often typed in the next morning."""
    vote, household = await _steward_household(
        session, actor=actor, vote_id=vote_id, household_id=household_id
    )
    if vote.certified_at is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This vote has closed; ballots can no longer be changed.")
    photo = await session.get(MediaFile, photo_id)
    if photo is None or photo.uploaded_by_id != actor.person_id or photo.kind != "image":
        raise LaoyouError(ErrorCode.INVALID, "Add a photo of the signed paper ballot.", field="photoId")
    return await _insert_ballot(
        session,
        Ballot(
            vote_id=vote.id,
            household_id=household.id,
            community_id=vote.community_id,
            choice=choice.value,
            channel=Channel.paper.value,
            photo_id=photo.id,
            recorded_by_id=actor.person_id,
        ),
    )


def decision_ref(vote: Vote) -> str:
    return f"业主表决 #{vote.id} {vote.title}"[:200]


async def do_certify_vote(session: AsyncSession, *, actor: Actor, vote_id: int) -> Vote:
    """An official of the community certifies the count after the deadline; an approved fee phase or package is
    then activated with this vote as its decision reference, in the same unit of work."""
    vote = await access_vote(session, actor=actor, vote_id=vote_id)
    await _check_role(session, actor, vote, Role.official)
    if vote.certified_at is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This vote is already certified.")
    if status(vote) == "open":
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "The vote can be certified after its deadline.")
    result = await tally(session, vote)
    if result.outcome == counting.Outcome.passed and vote.fee_plan_id is not None:
        # Billing checks before it changes anything, so a refusal here leaves the vote uncertified.
        await billing.do_apply_owners_vote(
            session,
            actor=actor,
            community_id=vote.community_id,
            plan_id=vote.fee_plan_id,
            package=vote.package,
            decision_ref=decision_ref(vote),
        )
    vote.certified_by_id = actor.person_id
    vote.certified_at = utcnow()
    vote.outcome = result.outcome.value
    vote.total_area, vote.total_owners = result.total_area, result.total_owners
    vote.voted_area, vote.voted_owners = result.voted_area, result.voted_owners
    vote.yes_area, vote.yes_owners = result.yes_area, result.yes_owners
    vote.no_area, vote.no_owners = result.no_area, result.no_owners
    session.add(vote)
    await session.flush()
    await accounts.audit(
        session,
        actor=actor,
        action="governance.vote_certified",
        subject_type="owners_vote",
        subject_id=vote.id,
        detail=result.outcome.value,
    )
    await _tell_residents(
        session,
        vote,
        title=i18n.gettext("Result of the owners' vote: %(title)s", title=vote.title),
        body=i18n.gettext("The result is published. Tap to see it."),
    )
    return vote


async def check_media_access(session: AsyncSession, actor: Actor, media_file: MediaFile) -> None:
    """A paper ballot's photo shows how a household voted: only the community's stewards and officials see it
    (registered with media)."""
    community_id = (
        await session.exec(select(Ballot.community_id).where(Ballot.photo_id == media_file.id).limit(1))
    ).first()
    if community_id is not None:
        allowed = await _communities_as(session, actor, Role.official, Role.steward)
        if allowed is not None and community_id not in allowed:
            raise NotFound()


if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)
