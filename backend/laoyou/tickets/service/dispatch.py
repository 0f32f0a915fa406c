"""The district board, the queues and dispatch: who takes a work order (by skill, nearness and load), assigning,
grabbing, transferring, and the field staff's profiles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, PersonRow, Role
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.pagination import Page
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community, CommunityRow
from laoyou.tickets.models import Category, Kind, StaffProfile, Status, WorkOrder, WorkOrderRow
from laoyou.tickets.service.access import (
    BOARD_ROLES,
    MANAGER_ROLES,
    access_work_order,
    district_scope,
    require_assignee_or_manager,
    require_manager,
    staff_roles_for,
)
from laoyou.tickets.service.common import (
    OPEN,
    WORK_ORDERS,
    Action,
    S,
    _,
    category_label,
    check_choice,
    check_reason,
    check_transition,
    community_stewards,
    notify,
    overdue_condition,
    transition,
)


@dataclass
class BoardFilter:
    district_id: int
    status: str | None = None  # None: every open order
    category: str | None = None
    community_id: int | None = None
    kind: str | None = None
    overdue_only: bool = False


# The board's lines are rows (WorkOrderRow, CommunityRow, PersonRow), not entities: they are only shown (a change
# goes through the order's own operations, which load it), and on the page staff reload most, loading entities
# cost more than the statement.
_COMMUNITY, _PERSON = Community.__table__, Person.__table__  # type: ignore[attr-defined]
_N_WO, _N_COMMUNITY = len(WORK_ORDERS.columns), len(_COMMUNITY.columns)


@dataclass
class BoardPage(Page[Any]):
    """A page of the board (WorkOrderRow items) with what every line shows beside the order: its community
    and its assignee (CommunityRow, PersonRow)."""

    communities: dict[int, Any] = field(default_factory=dict)
    assignees: dict[int, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=256)
def _board_query(given: frozenset[str], official_only: bool, limit: int) -> Any:
    """The board's select for one combination of filters, built once with bound parameters: building a
    three-table select with its conditions costs about as much as running it, on the page staff reload most.
    On the tables themselves, so that it runs as a plain statement (no entities to load)."""
    wo = WORK_ORDERS.c
    query = (
        sa_select(*WORK_ORDERS.columns, *_COMMUNITY.columns, *_PERSON.columns)
        .select_from(
            WORK_ORDERS.join(_COMMUNITY, _COMMUNITY.c.id == wo.community_id).outerjoin(
                _PERSON, _PERSON.c.id == wo.assignee_id
            )
        )
        .where(wo.district_id == bindparam("district_id"))
    )
    query = query.where(wo.status == bindparam("status")) if "status" in given else query.where(OPEN)
    if "scope" in given:
        query = query.where(wo.community_id.in_(bindparam("scope", expanding=True)))
    if "community_id" in given:
        query = query.where(wo.community_id == bindparam("community_id"))
    if "category" in given:
        query = query.where(wo.category == bindparam("category"))
    if "kind" in given:
        query = query.where(wo.kind == bindparam("kind"))
    if "now" in given:
        query = query.where(overdue_condition(bindparam("now")))
    if official_only:
        query = query.where(or_(wo.kind == Kind.repair.value, wo.official_visible.is_(True)))
    if "after" in given:
        query = query.where(wo.id < bindparam("after"))
    return query.order_by(wo.id.desc()).limit(limit)


async def list_board(
    session: AsyncSession,
    *,
    actor: Actor,
    flt: BoardFilter,
    first: int,
    after: int | None,
    now: datetime | None = None,
) -> BoardPage:
    """The district board (一盘棋): stewards, agents, officials and the admin; newest first.

    The community and the assignee come in the same statement: the board is the page staff reload most."""
    actor.require_login()
    if not actor.has(*BOARD_ROLES):
        raise PermissionDenied()
    scope = await district_scope(session, actor, flt.district_id, BOARD_ROLES)
    params: dict[str, Any] = {"district_id": flt.district_id}
    if flt.status:
        params["status"] = check_choice(flt.status, Status, "status")
    if scope is not None:
        params["scope"] = scope
    if flt.community_id is not None:
        params["community_id"] = flt.community_id
    if flt.category:
        params["category"] = check_choice(flt.category, Category, "category")
    if flt.kind:
        params["kind"] = check_choice(flt.kind, Kind, "kind")
    if flt.overdue_only:
        params["now"] = now or utcnow()
    if after is not None:
        params["after"] = after
    official_only = not actor.has(Role.steward, Role.agent, Role.admin)
    query = _board_query(frozenset(params), official_only, first + 1)
    rows = (await session.exec(query, params=params)).all()
    page = BoardPage([], len(rows) > first)
    make_order, make_community, make_person = WorkOrderRow._make, CommunityRow._make, PersonRow._make
    communities, assignees = page.communities, page.assignees
    for row in rows[:first]:
        order = make_order(row[:_N_WO])
        page.items.append(order)
        if order.community_id not in communities:
            communities[order.community_id] = make_community(row[_N_WO : _N_WO + _N_COMMUNITY])
        if order.assignee_id is not None and order.assignee_id not in assignees:
            assignees[order.assignee_id] = make_person(row[_N_WO + _N_COMMUNITY :])
    return page


async def list_my_queue(session: AsyncSession, *, actor: Actor, first: int) -> list[WorkOrder]:
    """Open work orders assigned to the viewer, oldest due first."""
    actor.require_login()
    return list(
        await session.exec(
            select(WorkOrder)
            .where(WorkOrder.assignee_id == actor.person_id, OPEN)
            .order_by(WorkOrder.completion_due_at, WorkOrder.id)
            .limit(first)
        )
    )


async def list_pool(session: AsyncSession, *, actor: Actor, first: int) -> list[WorkOrder]:
    """Unassigned repairs in the viewer's district that field staff may grab, most urgent first."""
    actor.require_login()
    grants = actor.grants_of(Role.field_staff)
    if not grants:
        raise PermissionDenied()
    served = await estates.staff_community_ids(session, actor)
    query = select(WorkOrder).where(
        col(WorkOrder.status).in_([S.reported.value, S.reopened.value]), WorkOrder.kind == Kind.repair.value
    )
    if served is not None:
        query = query.where(col(WorkOrder.community_id).in_(served))
    return list(await session.exec(query.order_by(WorkOrder.response_due_at, WorkOrder.id).limit(first)))


async def list_field_staff(
    session: AsyncSession, *, actor: Actor, district_id: int
) -> list[tuple[StaffProfile, Person, int]]:
    """The district's field staff with their current load, for the steward's assign list."""
    if not actor.has(*MANAGER_ROLES):
        raise PermissionDenied()
    await estates.access_district(session, actor=actor, district_id=district_id)
    rows = list(
        await session.exec(
            select(StaffProfile, Person)
            .join(Person, Person.id == StaffProfile.person_id)
            .where(StaffProfile.district_id == district_id, col(StaffProfile.active).is_(True))
            .order_by(Person.id)
        )
    )
    loads = await _loads(session, [p.person_id for p, _ in rows])
    return [(profile, person, loads.get(person.id, 0)) for profile, person in rows]


async def _loads(session: AsyncSession, person_ids: list[int]) -> dict[int, int]:
    if not person_ids:
        return {}
    rows = await session.exec(
        select(WorkOrder.assignee_id, func.count())
        .where(col(WorkOrder.assignee_id).in_(person_ids), OPEN)
        .group_by(WorkOrder.assignee_id)
    )
    return {person_id: count for person_id, count in rows}


SKILL_FOR: dict[str, str] = {
    "water": "plumbing",
    "sewer": "plumbing",
    "flooding": "plumbing",
    "electricity": "electrical",
    "lighting": "electrical",
    "lift": "lift",
    "lift_trapped": "lift",
    "door_lock": "locksmith",
    "gas": "gas",
    "greenery": "greenery",
    "cleanliness": "cleaning",
    "noise": "security",
    "parking": "security",
    "security": "security",
    "other": "general",
}
SKILLS = tuple(sorted(set(SKILL_FOR.values())))


async def choose_assignee(
    session: AsyncSession, order: WorkOrder, *, exclude: int | None = None
) -> int | None:
    """Skill first (a general hand if nobody has it), then nearness (covers the community or its host), then load."""
    profiles = [
        p
        for p in await session.exec(
            select(StaffProfile).where(
                StaffProfile.district_id == order.district_id, col(StaffProfile.active).is_(True)
            )
        )
        if p.person_id != exclude
    ]
    if not profiles:
        return None
    community = await session.get(Community, order.community_id)
    near = {order.community_id, community.attached_to_id} - {None}
    skill = SKILL_FOR.get(order.category, "general")
    loads = await _loads(session, [p.person_id for p in profiles])

    def rank(p: StaffProfile) -> tuple[int, int, int, int]:
        skill_rank = 0 if skill in p.skills else 1 if "general" in p.skills else 2
        near_rank = 0 if near & set(p.community_ids) else 1
        return skill_rank, near_rank, loads.get(p.person_id, 0), p.person_id

    best = min(profiles, key=rank)
    return best.person_id if rank(best)[0] < 2 else None


async def _check_assignee(session: AsyncSession, order: WorkOrder, person_id: int) -> None:
    """Field staff of the order's district, or a steward serving its community."""
    profile = (
        await session.exec(
            select(StaffProfile).where(
                StaffProfile.person_id == person_id, col(StaffProfile.active).is_(True)
            )
        )
    ).first()
    if profile is not None and profile.district_id == order.district_id:
        return
    stewards = set(await community_stewards(session, order.community_id, district_wide=False))
    stewards.update(await community_stewards(session, order.community_id, district_wide=True))
    if person_id not in stewards:
        raise LaoyouError(
            ErrorCode.INVALID, "This person does not work in this district.", field="assigneeId"
        )


async def _assign(
    session: AsyncSession,
    order: WorkOrder,
    person_id: int,
    *,
    actor_id: int | None,
    action: Action,
    note: str,
    now: datetime | None = None,
) -> WorkOrder:
    await _check_assignee(session, order, person_id)
    await transition(session, order, action, actor_id=actor_id, note=note, now=now)
    order.assignee_id = person_id
    session.add(order)
    await session.flush()
    await notify(
        session,
        person_ids=[person_id],
        kind="work_order_assigned",
        title=_("A work order for you: %(category)s"),
        link=f"/orders/{order.id}",
        category=category_label(order.category),
    )
    return order


async def do_assign(
    session: AsyncSession,
    *,
    actor: Actor,
    order_id: int,
    assignee_id: int | None,
    note: str = "",
    now: datetime | None = None,
) -> WorkOrder:
    """A steward assigns (or reassigns, with a reason); without an assignee the dispatcher chooses."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_manager(session, actor, order)
    reassigning = order.assignee_id is not None
    note = check_reason(note, required=reassigning and assignee_id is not None)
    check_transition(order, Action.assign)
    if assignee_id is None:
        assignee_id = await choose_assignee(
            session, order, exclude=order.assignee_id if reassigning else None
        )
        if assignee_id is None:
            raise LaoyouError(
                ErrorCode.NOT_FOUND, "Nobody in the district can take this now.", field="assigneeId"
            )
        note = note or "auto"
    if assignee_id == order.assignee_id and order.status == S.dispatched:
        raise LaoyouError(ErrorCode.INVALID, "It is already with this person.", field="assigneeId")
    return await _assign(
        session, order, assignee_id, actor_id=actor.person_id, action=Action.assign, note=note, now=now
    )


async def do_auto_dispatch(
    session: AsyncSession, *, order: WorkOrder, now: datetime | None = None
) -> WorkOrder | None:
    """The system dispatches a new repair (no actor): skill, nearness, load."""
    if order.kind != Kind.repair or order.status not in (S.reported, S.reopened):
        return None
    person_id = await choose_assignee(session, order)
    if person_id is None:
        return None
    return await _assign(session, order, person_id, actor_id=None, action=Action.assign, note="auto", now=now)


async def do_grab(session: AsyncSession, *, actor: Actor, order_id: int) -> WorkOrder:
    """Field staff take a repair from the pool; a steward takes a complaint to handle it."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    roles = await staff_roles_for(session, actor, order)
    if order.kind == Kind.repair:
        if Role.field_staff not in roles and not roles & set(MANAGER_ROLES):
            raise PermissionDenied()
    elif not roles & set(MANAGER_ROLES):
        raise PermissionDenied()
    check_transition(order, Action.grab)
    if order.kind == Kind.repair and Role.field_staff in roles:
        await _check_assignee(session, order, actor.person_id)
    await transition(session, order, Action.grab, actor_id=actor.person_id)
    order.assignee_id = actor.person_id
    order.responded_at = order.responded_at or utcnow()
    session.add(order)
    await session.flush()
    return order


async def do_transfer(
    session: AsyncSession, *, actor: Actor, order_id: int, assignee_id: int | None, note: str
) -> WorkOrder:
    """The assignee hands the order to a colleague, or back to the pool (no assignee); always with a reason."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_assignee_or_manager(session, actor, order)
    note = check_reason(note, required=True)
    if assignee_id is None:
        await transition(session, order, Action.release, actor_id=actor.person_id, note=note)
        order.assignee_id = None
        session.add(order)
        await session.flush()
        return order
    check_transition(order, Action.transfer)
    if assignee_id == order.assignee_id:
        raise LaoyouError(ErrorCode.INVALID, "It is already with this person.", field="assigneeId")
    return await _assign(
        session, order, assignee_id, actor_id=actor.person_id, action=Action.transfer, note=note
    )


async def do_save_staff_profile(
    session: AsyncSession,
    *,
    actor: Actor,
    person_id: int,
    skills: list[str],
    community_ids: list[int],
    on_duty: bool,
) -> StaffProfile:
    """A steward of the district (or the admin) records what a field worker can fix and where they go."""
    grants = await accounts.live_grants(session, person_id)
    field = [g for g in grants if g.role == Role.field_staff.value and g.district_id]
    if not field:
        raise NotFound()
    district_id = field[0].district_id
    if not actor.is_admin and not any(
        g.community_id is None and g.district_id == district_id for g in actor.grants_of(Role.steward)
    ):
        raise PermissionDenied()
    bad = [s for s in skills if s not in SKILLS]
    if bad or not skills:
        raise LaoyouError(ErrorCode.INVALID, "Please choose one of the offered options.", field="skills")
    known = set(await session.exec(select(Community.id).where(Community.district_id == district_id)))
    if not set(community_ids) <= known:
        raise LaoyouError(
            ErrorCode.INVALID, "Please choose communities of this district.", field="communityIds"
        )
    profile = (await session.exec(select(StaffProfile).where(StaffProfile.person_id == person_id))).first()
    if profile is None:
        profile = StaffProfile(person_id=person_id, district_id=district_id)
    profile.skills = sorted(set(skills))
    profile.community_ids = sorted(set(community_ids))
    profile.on_duty = on_duty
    profile.active = True
    session.add(profile)
    await session.flush()
    return profile
