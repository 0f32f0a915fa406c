"""Planning and issuing a batch of household login cards; scoped like a single card (stewards and the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit, audit_many
from laoyou.accounts.models import LoginCard, Person, Role
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.security import new_token, token_hash
from laoyou.core.settings import Settings
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Community, Household, Unit

# Fifty A4 sheets at eight a sheet: a large building; a larger community is printed building by building.
MAX_CARDS = 400


@dataclass
class PlannedCard:
    household: Household
    person: Person | None  # None: nobody lives there yet, so the household is skipped
    address: str


@dataclass
class CardPlan:
    community: Community
    building: Building | None
    households: list[PlannedCard]

    @property
    def cards(self) -> list[PlannedCard]:
        return [p for p in self.households if p.person is not None]

    @property
    def skipped(self) -> list[PlannedCard]:
        return [p for p in self.households if p.person is None]


@dataclass
class IssuedBatchCard:
    planned: PlannedCard
    card: LoginCard
    token: str


def _card_holder(household: Household, residents: list[Person]) -> Person | None:
    """The resident named as the household's head, or else the first who came to live there."""
    named = [p for p in residents if p.name == household.head_name]
    return (named or residents or [None])[0]


async def plan_login_cards(
    session: AsyncSession, *, actor: Actor, community_id: int, building_id: int | None = None
) -> CardPlan:
    """Who would get a card in a building (or the whole community) of the actor's, in print order."""
    actor.require_login()
    staff = await estates.staff_community_ids(session, actor)
    if not actor.has(Role.steward, Role.admin) or (staff is not None and community_id not in staff):
        raise NotFound()
    community = await session.get(Community, community_id)
    if community is None or community.archived_at is not None:
        raise NotFound()
    building = None
    query = (
        select(Household, Unit.number, Building.name)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(
            Household.community_id == community.id,
            col(Household.archived_at).is_(None),
            col(Building.archived_at).is_(None),
        )
        # In the order the buildings were added (the way the estate reads: 1号楼 before 10号楼), then by door.
        .order_by(Building.id, Unit.number, Household.id)
    )
    if building_id is not None:
        building = await session.get(Building, building_id)
        if building is None or building.community_id != community.id or building.archived_at is not None:
            raise NotFound()
        query = query.where(Unit.building_id == building.id)
    rows = list(await session.exec(query))
    residents = await estates.household_people_many(
        session, actor=actor, household_ids=[household.id for household, _, _ in rows]
    )
    return CardPlan(
        community=community,
        building=building,
        households=[
            PlannedCard(
                household=household,
                person=_card_holder(household, residents[household.id]),
                address=f"{community.name} {building_name} {unit_number}",
            )
            for household, unit_number, building_name in rows
        ],
    )


async def do_issue_login_cards(
    session: AsyncSession,
    *,
    settings: Settings,
    actor: Actor,
    community_id: int,
    building_id: int | None = None,
) -> tuple[CardPlan, list[IssuedBatchCard]]:
    """Issue one card per household of the plan, all or none (the caller's unit of work), each audited.

    Re-printing revokes the earlier unused cards of the same people, as a single card does: a steward prints
    again because the first sheet was lost or spoiled, and a lost sheet must not keep logging people in. A
    card already used is history and stays as it is.
    """
    plan = await plan_login_cards(session, actor=actor, community_id=community_id, building_id=building_id)
    planned = plan.cards
    if not planned:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Nobody lives in these households yet, so there is no card.")
    if len(planned) > MAX_CARDS:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED,
            "At most %(max)s cards at once. Please print building by building.",
            max=MAX_CARDS,
        )
    now = utcnow()
    await session.exec(
        update(LoginCard)
        .where(
            col(LoginCard.person_id).in_({p.person.id for p in planned}),
            col(LoginCard.used_at).is_(None),
            col(LoginCard.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    tokens = [new_token() for _ in planned]
    expires_at = now + timedelta(days=settings.login_card_days)
    ids = await session.execute(
        insert(LoginCard).returning(LoginCard.id, sort_by_parameter_order=True),
        params=[
            {
                "person_id": p.person.id,
                "household_id": p.household.id,
                "community_id": p.household.community_id,
                "district_id": p.household.district_id,
                "token_hash": token_hash(token),
                "issued_by_id": actor.person_id,
                "created_at": now,
                "expires_at": expires_at,
            }
            for p, token in zip(planned, tokens, strict=True)
        ],
    )
    card_ids = [row[0] for row in ids]
    cards = {c.id: c for c in await session.exec(select(LoginCard).where(col(LoginCard.id).in_(card_ids)))}
    await audit_many(
        session, actor=actor, action="card.issue", subject_type="login_card", subject_ids=card_ids
    )
    await audit(
        session,
        actor=actor,
        action="card.issue_batch",
        subject_type="building" if plan.building else "community",
        subject_id=plan.building.id if plan.building else plan.community.id,
        detail=f"cards={len(card_ids)} skipped={len(plan.skipped)}",
    )
    return plan, [
        IssuedBatchCard(planned=p, card=cards[card_id], token=token)
        for p, card_id, token in zip(planned, card_ids, tokens, strict=True)
    ]
