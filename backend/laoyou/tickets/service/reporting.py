"""Reporting: a resident's report for their home, or staff logging one taken by phone, at the desk, on patrol or
in chat; and the list of what the viewer reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.events import announce
from laoyou.core.pagination import Page
from laoyou.core.phone import normalise_phone
from laoyou.core.text import check_text
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Community, District, Household, Unit
from laoyou.tickets import sla as slas
from laoyou.tickets.models import (
    Category,
    Kind,
    Place,
    Source,
    StaffProfile,
    Status,
    TicketAttachment,
    Urgency,
    WorkOrder,
    WorkOrderEvent,
)
from laoyou.tickets.service.access import DESK_ROLES
from laoyou.tickets.service.common import (
    MAX_TEXT,
    Action,
    _,
    board_channel,
    category_label,
    check_choice,
    check_media,
    check_photo_count,
    community_stewards,
    is_emergency,
    notify,
)


async def _on_duty_people(session: AsyncSession, order: WorkOrder) -> set[int]:
    """On-duty field staff covering the community, and the stewards serving it (on duty first)."""
    people = {
        p.person_id
        for p in await session.exec(
            select(StaffProfile).where(
                StaffProfile.district_id == order.district_id,
                col(StaffProfile.active).is_(True),
                col(StaffProfile.on_duty).is_(True),
            )
        )
        if not p.community_ids or order.community_id in p.community_ids
    }
    people.update(await community_stewards(session, order.community_id, district_wide=False))
    people.update(await community_stewards(session, order.community_id, district_wide=True))
    return people


@dataclass
class ReportInput:
    client_id: str
    category: str
    kind: str = Kind.repair.value
    urgency: str = Urgency.normal.value
    place: str = Place.unit.value
    household_id: int | None = None
    community_id: int | None = None
    place_note: str = ""
    description: str = ""
    photo_ids: list[int] = field(default_factory=list)
    voice_id: int | None = None
    hide_author: bool = False
    source: str = Source.app.value
    reporter_name: str = ""
    reporter_phone: str = ""


@dataclass
class Reported:
    order: WorkOrder
    created: bool  # False: the same submission came again and the first work order is returned


def check_report(data: ReportInput) -> None:
    if not (0 < len(data.client_id or "") <= 64):
        raise LaoyouError(ErrorCode.INVALID, "The submission id is not valid.", field="clientId")
    data.kind = check_choice(data.kind, Kind, "kind")
    data.category = check_choice(data.category, Category, "category")
    data.urgency = check_choice(data.urgency, Urgency, "urgency")
    data.place = check_choice(data.place, Place, "place")
    data.source = check_choice(data.source, Source, "source")
    if Category(data.category).is_emergency:
        data.urgency = Urgency.emergency.value
    data.description = (data.description or "").strip()
    data.place_note = (data.place_note or "").strip()
    if len(data.description) > MAX_TEXT:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it under %(max)s characters.", field="description", max=MAX_TEXT
        )
    if len(data.place_note) > 200:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it under %(max)s characters.", field="placeNote", max=200
        )
    check_text(data.description, field="description")
    check_text(data.place_note, field="placeNote")
    check_text(data.reporter_name, field="reporterName")
    check_photo_count(len(data.photo_ids))
    if not data.description and not data.photo_ids and data.voice_id is None:
        raise LaoyouError(
            ErrorCode.INVALID,
            "Please say in a few words, by voice or with a photo what is wrong.",
            field="description",
        )
    if data.hide_author and data.kind != Kind.complaint:
        data.hide_author = False


async def _existing(session: AsyncSession, actor: Actor, client_id: str) -> WorkOrder | None:
    return (
        await session.exec(
            select(WorkOrder).where(
                WorkOrder.created_by_id == actor.person_id, WorkOrder.client_id == client_id
            )
        )
    ).first()


async def resident_household(session: AsyncSession, *, actor: Actor, household_id: int | None) -> Household:
    """The home a resident reports for: the one named, else their first; NotFound unless they live there or
    follow it. The report page asks it first, to know the community its photos are stored for."""
    if household_id is None:
        households = sorted(actor.household_ids)
        household_id = households[0] if households else None
    if household_id is None or household_id not in actor.household_ids:
        raise NotFound()
    return await session.get(Household, household_id)


async def do_report(
    session: AsyncSession, *, actor: Actor, data: ReportInput, now: datetime | None = None
) -> Reported:
    """A resident reports for their home, or staff log a report taken by phone, at the desk, on patrol or in chat.

    The client-made id makes it idempotent: a retry or an offline replay returns the first work order.
    """
    actor.require_login()
    if data.client_id and (first := await _existing(session, actor, data.client_id)) is not None:
        return Reported(first, created=False)
    check_report(data)
    now = now or utcnow()
    reporter_id: int | None = None
    reporter_name = reporter_phone = ""
    if data.source == Source.app:
        household = await resident_household(session, actor=actor, household_id=data.household_id)
        household_id, community_id = household.id, household.community_id
        reporter_id = actor.person_id
        reporter_name = actor.person.name
        reporter_phone = actor.person.phone
    else:
        if data.community_id is None:
            raise LaoyouError(ErrorCode.INVALID, "Please choose the community.", field="communityId")
        served = await estates.staff_community_ids(session, actor)
        if not actor.has(*DESK_ROLES) or (served is not None and data.community_id not in served):
            raise NotFound()
        community_id = data.community_id
        household_id = data.household_id
        if household_id is not None:
            household = await session.get(Household, household_id)
            if household is None or household.community_id != community_id:
                raise NotFound()
        reporter_name = data.reporter_name.strip()[:50]
        if data.reporter_phone.strip():
            reporter_phone = normalise_phone(data.reporter_phone, field="reporterPhone")
            person = await accounts.person_by_phone(session, reporter_phone)
            if person is not None and household_id is not None:
                grants = await accounts.live_grants(session, person.id)
                if any(g.household_id == household_id for g in grants):
                    reporter_id = person.id
                    reporter_name = reporter_name or person.name
    if data.place == Place.unit and household_id is None and not data.place_note:
        raise LaoyouError(ErrorCode.INVALID, "Please say where it is.", field="placeNote")
    community = await session.get(Community, community_id)
    photos = await check_media(
        session, actor, data.photo_ids, kind="image", community_id=community_id, field_name="photoIds"
    )
    voice = await check_media(
        session,
        actor,
        [data.voice_id] if data.voice_id else [],
        kind="audio",
        community_id=community_id,
        field_name="voiceId",
    )
    response_due, completion_due = slas.due_times(data.kind, data.category, data.urgency, now)
    order = WorkOrder(
        community_id=community_id,
        district_id=community.district_id,
        kind=data.kind,
        category=data.category,
        urgency=data.urgency,
        status=Status.reported.value,
        is_open=True,
        place=data.place,
        household_id=household_id,
        place_note=data.place_note,
        description=data.description,
        source=data.source,
        reporter_id=reporter_id,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        created_by_id=actor.person_id,
        client_id=data.client_id,
        hide_author=data.hide_author,
        created_at=now,
        updated_at=now,
        response_due_at=response_due,
        completion_due_at=completion_due,
    )
    try:
        async with session.begin_nested():
            session.add(order)
            await session.flush()
    except IntegrityError:
        # The same submission raced in on another connection: the first one wins.
        first = await _existing(session, actor, data.client_id)
        if first is None:
            raise
        return Reported(first, created=False)
    for media in [*photos, *voice]:
        session.add(
            TicketAttachment(
                work_order_id=order.id,
                media_file_id=media.id,
                community_id=community_id,
                district_id=order.district_id,
                added_by_id=actor.person_id,
                stage="report",
                created_at=now,
            )
        )
    session.add(
        WorkOrderEvent(
            work_order_id=order.id,
            community_id=community_id,
            district_id=order.district_id,
            actor_id=actor.person_id,
            action=Action.report.value,
            from_status=None,
            to_status=Status.reported.value,
            note=data.source,
            created_at=now,
        )
    )
    await session.flush()
    announce(session, board_channel(order.district_id), {"id": order.id, "status": order.status})
    if is_emergency(order):
        await notify(
            session,
            person_ids=await _on_duty_people(session, order),
            kind="work_order_emergency",
            title=_("Emergency: %(category)s at %(community)s"),
            body=order.description[:200],
            link=f"/orders/{order.id}",
            category=category_label(order.category),
            community=community.name,
        )
    elif order.kind != Kind.repair:
        # Complaints and suggestions go to the steward.
        await notify(
            session,
            person_ids=await community_stewards(session, community_id, district_wide=False)
            or await community_stewards(session, community_id, district_wide=True),
            kind="work_order_complaint",
            title=_("A new complaint or suggestion at %(community)s"),
            link=f"/orders/{order.id}",
            community=community.name,
        )
    return Reported(order, created=True)


async def list_mine(session: AsyncSession, *, actor: Actor, first: int, after: int | None) -> Page[WorkOrder]:
    """What the viewer reported, and what was reported for their households (family see their parents')."""
    actor.require_login()
    condition = WorkOrder.reporter_id == actor.person_id
    if actor.household_ids:
        condition = or_(
            condition,
            col(WorkOrder.household_id).in_(actor.household_ids) & col(WorkOrder.reporter_id).is_not(None),
        )
    query = select(WorkOrder).where(condition).order_by(col(WorkOrder.id).desc())
    if after is not None:
        query = query.where(WorkOrder.id < after)
    rows = list(await session.exec(query.limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


@dataclass
class OpenDataOrder:
    """A work order as open data shows it: where is the community and building, never the unit."""

    order: WorkOrder
    community_name: str
    building_name: str
    operator_name: str


async def list_open_data_orders(
    session: AsyncSession,
    *,
    community_ids: list[int] | None,
    ids: list[int] | None = None,
    categories: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    is_open: bool | None = None,
    limit: int,
) -> list[OpenDataOrder]:
    """Work orders for open data (governance's Open311), unscoped by any person: the caller decides which
    communities its key or an anonymous reader covers (None: every community). Newest first."""
    query = (
        select(WorkOrder, Community.name, Building.name, District.operator_name)
        .join(Community, Community.id == WorkOrder.community_id)
        .join(District, District.id == WorkOrder.district_id)
        .outerjoin(Household, Household.id == WorkOrder.household_id)
        .outerjoin(Unit, Unit.id == Household.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .where(WorkOrder.status != Status.cancelled.value)
    )
    if community_ids is not None:
        query = query.where(col(WorkOrder.community_id).in_(community_ids))
    if ids is not None:
        query = query.where(col(WorkOrder.id).in_(ids))
    if categories is not None:
        query = query.where(col(WorkOrder.category).in_(categories))
    if since is not None:
        query = query.where(WorkOrder.created_at >= since)
    if until is not None:
        query = query.where(WorkOrder.created_at <= until)
    if is_open is not None:
        query = query.where(col(WorkOrder.is_open).is_(is_open))
    rows = await session.exec(query.order_by(col(WorkOrder.id).desc()).limit(limit))
    return [
        OpenDataOrder(order, community, building or "", operator)
        for order, community, building, operator in rows
    ]
