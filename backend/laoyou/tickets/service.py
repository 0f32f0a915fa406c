"""Work orders: reporting, the district board, dispatch, the lifecycle, SLA escalation and the figures.

Every status change goes through `_transition`, which consults TRANSITIONS and writes an event row: no
operation can move a work order along an edge that is not in the table.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, PersonRow, Role, RoleGrant
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.pagination import Page
from laoyou.core.phone import normalise_phone
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community, CommunityRow, Household
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile
from laoyou.tickets import sla as slas
from laoyou.tickets.models import (
    OPEN_STATUSES,
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
    WorkOrderRow,
)

MAX_PHOTOS = 6
MAX_TEXT = 1000
MAX_NOTE = 500


def _(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


# --- the state machine --------------------------------------------------------------------------------


class Action(StrEnum):
    report = "report"
    assign = "assign"  # a steward (or automatic dispatch) gives it to someone; with a reason when reassigning
    grab = "grab"  # field staff take it from the pool; a steward takes a complaint
    accept = "accept"
    transfer = "transfer"  # the assignee hands it to someone else, with a reason
    release = "release"  # the assignee puts it back in the pool, with a reason
    start = "start"
    finish = "finish"
    confirm = "confirm"  # the resident confirms and rates
    reopen = "reopen"
    cancel = "cancel"
    escalate = "escalate"
    note = "note"
    auto_close = "auto_close"
    return_visit = "return_visit"


S = Status
ACTIVE = frozenset({S.reported, S.dispatched, S.accepted, S.in_progress, S.reopened})
# action: (statuses it may start from, the status it leads to; None keeps the status)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.assign: (frozenset({S.reported, S.reopened, S.dispatched, S.accepted}), S.dispatched),
    Action.grab: (frozenset({S.reported, S.reopened}), S.accepted),
    Action.accept: (frozenset({S.dispatched}), S.accepted),
    Action.transfer: (frozenset({S.dispatched, S.accepted, S.in_progress}), S.dispatched),
    Action.release: (frozenset({S.dispatched, S.accepted, S.in_progress}), S.reported),
    Action.start: (frozenset({S.accepted}), S.in_progress),
    Action.finish: (frozenset({S.accepted, S.in_progress}), S.done),
    Action.confirm: (frozenset({S.done}), S.confirmed),
    Action.reopen: (frozenset({S.done, S.confirmed, S.closed}), S.reopened),
    Action.cancel: (frozenset({S.reported, S.reopened, S.dispatched, S.accepted}), S.cancelled),
    Action.escalate: (ACTIVE, None),
    Action.note: (frozenset(Status) - {S.cancelled}, None),
    Action.auto_close: (frozenset({S.done}), S.closed),
    Action.return_visit: (frozenset({S.done, S.confirmed, S.closed}), None),
}


def legal_edges() -> set[tuple[str | None, str]]:
    """Every (from, to) pair an event row may record."""
    edges: set[tuple[str | None, str]] = {(None, S.reported.value)}
    for sources, target in TRANSITIONS.values():
        for source in sources:
            edges.add((source.value, (target or source).value))
    return edges


def check_transition(order: WorkOrder, action: Action) -> Status:
    sources, target = TRANSITIONS[action]
    current = Status(order.status)
    if current not in sources:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED,
            "This cannot be done now: the work order is %(status)s.",
            field="id",
            status=current.value,
        )
    return target or current


async def _transition(
    session: AsyncSession,
    order: WorkOrder,
    action: Action,
    *,
    actor_id: int | None,
    note: str = "",
    now: datetime | None = None,
) -> WorkOrderEvent:
    target = check_transition(order, action)
    now = now or utcnow()
    event = WorkOrderEvent(
        work_order_id=order.id,
        community_id=order.community_id,
        district_id=order.district_id,
        actor_id=actor_id,
        action=action.value,
        from_status=order.status,
        to_status=target.value,
        note=note[:MAX_NOTE],
        created_at=now,
    )
    order.status = target.value
    order.is_open = target in OPEN_STATUSES
    order.updated_at = now
    session.add(order)
    session.add(event)
    await session.flush()
    announce(session, board_channel(order.district_id), {"id": order.id, "status": order.status})
    announce(session, work_order_channel(order.id), {"id": order.id, "status": order.status})
    return event


def board_channel(district_id: int) -> str:
    return f"work_orders:district:{district_id}"


def work_order_channel(order_id: int) -> str:
    return f"work_orders:{order_id}"


# --- who may see what ----------------------------------------------------------------------------------

MANAGER_ROLES = (Role.steward, Role.admin)  # act on any work order they serve
DESK_ROLES = (
    Role.steward,
    Role.agent,
    Role.admin,
    Role.field_staff,
)  # may log a report on a resident's behalf
SYSTEM_VIEW_ROLES = (Role.steward, Role.agent, Role.admin)  # see a hidden complaint's author
BOARD_ROLES = (Role.steward, Role.agent, Role.official, Role.admin)  # the district board and its figures


def is_reporter_side(actor: Actor, order: WorkOrder) -> bool:
    """The reporter, or their household (family included)."""
    if not actor.is_authenticated:
        return False
    return order.reporter_id == actor.person_id or (
        order.household_id is not None
        and order.reporter_id is not None
        and order.household_id in actor.household_ids
    )


async def staff_roles_for(
    session: AsyncSession, actor: Actor, order: WorkOrder, community: Community | None = None
) -> set[Role]:
    """The actor's staff roles whose scope covers the order's community (a host's team covers 挂单)."""
    if not actor.is_authenticated:
        return set()
    if actor.is_admin:
        return {Role.admin}
    if not any(Role(g.role).is_staff for g in actor.grants):
        return set()
    community = community or await session.get(Community, order.community_id)
    roles: set[Role] = set()
    for grant in actor.grants:
        role = Role(grant.role)
        if not role.is_staff:
            continue
        if grant.community_id is None and grant.district_id == order.district_id:
            roles.add(role)
        elif grant.community_id is not None and grant.community_id in (
            order.community_id,
            community.attached_to_id,
        ):
            roles.add(role)
    return roles


def _official_may_see(order: WorkOrder) -> bool:
    return order.kind == Kind.repair or order.official_visible


async def can_view(session: AsyncSession, actor: Actor, order: WorkOrder) -> bool:
    if is_reporter_side(actor, order):
        return True
    roles = await staff_roles_for(session, actor, order)
    if roles - {Role.official}:
        return True
    return Role.official in roles and _official_may_see(order)


async def household_open_orders(
    session: AsyncSession, *, actor: Actor, household_id: int, community_id: int, first: int = 10
) -> list[WorkOrder]:
    """A household's open work orders that this actor may see, newest first. The scope is part of the query
    (it is the same for every order of one community, but for which kinds an official sees and which the
    reporter's side sees), so a short list means there are no more, not that the first few were hidden."""
    community = await session.get(Community, community_id)
    if community is None:
        return []
    probe = WorkOrder(community_id=community_id, district_id=community.district_id)
    roles = await staff_roles_for(session, actor, probe, community)
    conditions = [WorkOrder.household_id == household_id, WorkOrder.community_id == community_id, OPEN]
    if not roles - {Role.official}:
        if not actor.is_authenticated:
            return []
        # As in is_reporter_side: their own reports, or any report from a household they live in or follow.
        reporter_side = (
            col(WorkOrder.reporter_id).is_not(None)
            if household_id in actor.household_ids
            else WorkOrder.reporter_id == actor.person_id
        )
        official = [WorkOrder.kind == Kind.repair.value, col(WorkOrder.official_visible).is_(True)]
        conditions.append(or_(reporter_side, *official) if Role.official in roles else reporter_side)
    rows = await session.exec(
        select(WorkOrder).where(*conditions).order_by(col(WorkOrder.id).desc()).limit(first)
    )
    return list(rows)


async def access_work_order(session: AsyncSession, *, actor: Actor, order_id: int) -> WorkOrder:
    actor.require_login()
    order = await session.get(WorkOrder, order_id)
    if order is None or not await can_view(session, actor, order):
        raise NotFound()
    return order


async def author_hidden(
    session: AsyncSession, actor: Actor, order: WorkOrder, roles: set[Role] | None = None
) -> bool:
    """A hidden complaint's author is known to the steward, the agents and the system, never to field staff."""
    if not order.hide_author or is_reporter_side(actor, order):
        return False
    if roles is None:
        roles = await staff_roles_for(session, actor, order)
    return not roles & set(SYSTEM_VIEW_ROLES)


async def check_media_access(session: AsyncSession, actor: Actor, media: MediaFile) -> None:
    """A file attached to a work order is seen by whoever may see the order, and its author's report
    files of a hidden complaint only by those who may know the author (registered with media)."""
    rows = list(
        await session.exec(
            select(TicketAttachment.stage, WorkOrder)
            .join(WorkOrder, WorkOrder.id == TicketAttachment.work_order_id)
            .where(TicketAttachment.media_file_id == media.id)
        )
    )
    for stage, order in rows:
        if not await can_view(session, actor, order):
            raise NotFound()
        if stage == "report" and await author_hidden(session, actor, order):
            raise NotFound()


# --- notifying ---------------------------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    *,
    person_ids: Iterable[int],
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    **params: object,
) -> None:
    """The one way this domain tells people something (web push will hook in here).

    title and body are English msgids, translated into each person's language.
    """
    ids = sorted(set(person_ids))
    if not ids:
        return
    people = list(await session.exec(select(Person).where(col(Person.id).in_(ids))))
    for person in people:
        language = i18n.valid_language(person.language) or i18n.DEFAULT_LANGUAGE
        await accounts.do_notify(
            session,
            person_id=person.id,
            kind=kind,
            title=i18n.gettext(title, language, **params)[:200],
            body=i18n.gettext(body, language, **params)[:1000] if body else "",
            link=link,
        )


def _category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


CATEGORY_LABELS = {
    "water": _("Water"),
    "electricity": _("Electricity"),
    "sewer": _("Sewer and drains"),
    "lift": _("Lift"),
    "door_lock": _("Door and lock"),
    "lighting": _("Lighting"),
    "greenery": _("Trees and grass"),
    "cleanliness": _("Cleaning"),
    "noise": _("Noise"),
    "parking": _("Parking"),
    "security": _("Safety and guards"),
    "other": _("Something else"),
    "gas": _("Gas smell"),
    "flooding": _("Flooding"),
    "lift_trapped": _("Someone trapped in a lift"),
}


async def community_stewards(session: AsyncSession, community_id: int, *, district_wide: bool) -> list[int]:
    """The community's own stewards (and its host's, 挂单), or the district-wide stewards (district managers)."""
    community = await session.get(Community, community_id)
    if community is None:
        return []
    query = select(RoleGrant.person_id).where(
        RoleGrant.role == Role.steward.value, col(RoleGrant.revoked_at).is_(None)
    )
    if district_wide:
        query = query.where(
            col(RoleGrant.community_id).is_(None), RoleGrant.district_id == community.district_id
        )
    else:
        query = query.where(
            col(RoleGrant.community_id).in_({community.id, community.attached_to_id} - {None})
        )
    return list(await session.exec(query))


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


# --- reporting -------------------------------------------------------------------------------------------


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


def _enum(value: str, enum: type[StrEnum], field_name: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        raise LaoyouError(
            ErrorCode.INVALID, "Please choose one of the offered options.", field=field_name
        ) from None


def check_report(data: ReportInput) -> None:
    if not (0 < len(data.client_id or "") <= 64):
        raise LaoyouError(ErrorCode.INVALID, "The submission id is not valid.", field="clientId")
    data.kind = _enum(data.kind, Kind, "kind")
    data.category = _enum(data.category, Category, "category")
    data.urgency = _enum(data.urgency, Urgency, "urgency")
    data.place = _enum(data.place, Place, "place")
    data.source = _enum(data.source, Source, "source")
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
    if len(data.photo_ids) > MAX_PHOTOS:
        raise LaoyouError(ErrorCode.INVALID, "At most %(max)s photos.", field="photoIds", max=MAX_PHOTOS)
    if not data.description and not data.photo_ids and data.voice_id is None:
        raise LaoyouError(
            ErrorCode.INVALID,
            "Please say in a few words, by voice or with a photo what is wrong.",
            field="description",
        )
    if data.hide_author and data.kind != Kind.complaint:
        data.hide_author = False


async def _check_media(
    session: AsyncSession, actor: Actor, ids: list[int], *, kind: str, community_id: int, field_name: str
) -> list[MediaFile]:
    if not ids:
        return []
    rows = {m.id: m for m in await session.exec(select(MediaFile).where(col(MediaFile.id).in_(ids)))}
    found = []
    for media_id in dict.fromkeys(ids):
        media = rows.get(media_id)
        if media is None or media.uploaded_by_id != actor.person_id:
            raise NotFound()
        if media.kind != kind or media.community_id != community_id:
            message = "Please add photos here." if kind == "image" else "Please add a voice note here."
            raise LaoyouError(ErrorCode.INVALID, message, field=field_name)
        found.append(media)
    return found


async def _existing(session: AsyncSession, actor: Actor, client_id: str) -> WorkOrder | None:
    return (
        await session.exec(
            select(WorkOrder).where(
                WorkOrder.created_by_id == actor.person_id, WorkOrder.client_id == client_id
            )
        )
    ).first()


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
        households = sorted(actor.household_ids)
        household_id = (
            data.household_id if data.household_id is not None else (households[0] if households else None)
        )
        if household_id is None or household_id not in actor.household_ids:
            raise NotFound()
        household = await session.get(Household, household_id)
        community_id = household.community_id
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
    photos = await _check_media(
        session, actor, data.photo_ids, kind="image", community_id=community_id, field_name="photoIds"
    )
    voice = await _check_media(
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
            category=_category_label(order.category),
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


# --- lists ------------------------------------------------------------------------------------------------


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
class BoardFilter:
    district_id: int
    status: str | None = None  # None: every open order
    category: str | None = None
    community_id: int | None = None
    kind: str | None = None
    overdue_only: bool = False


# On the table's columns, so that the board's plain statement (below) shares them with the entity queries.
_WO = WorkOrder.__table__  # type: ignore[attr-defined]
# `is_open = true`, not `IS 1`: SQLite uses the board's index only for an equality.
OPEN = _WO.c.is_open == True  # noqa: E712


def _overdue_condition(now: Any):  # noqa: ANN202
    wo = _WO.c
    return OPEN & (
        (wo.completion_due_at < now)
        | (
            wo.status.in_([S.reported.value, S.reopened.value, S.dispatched.value])
            & (wo.response_due_at < now)
        )
    )


async def _district_scope(
    session: AsyncSession, actor: Actor, district_id: int, roles: tuple[Role, ...]
) -> list[int] | None:
    """The communities of the district the actor may see with these roles; None: the whole district."""
    if actor.is_admin:
        return None
    grants = [g for g in actor.grants_of(*roles)]
    if any(g.community_id is None and g.district_id == district_id for g in grants):
        return None  # a district-wide grant: the whole board, no query needed
    if not grants:
        raise NotFound()
    served = await estates.staff_community_ids(session, actor.__class__(person=actor.person, grants=grants))
    ids = list(
        await session.exec(
            select(Community.id).where(
                Community.district_id == district_id, col(Community.id).in_(served or set())
            )
        )
    )
    if not ids:
        raise NotFound()
    return ids


# The board's lines are rows (WorkOrderRow, CommunityRow, PersonRow), not entities: they are only shown (a change
# goes through the order's own operations, which load it), and on the page staff reload most, loading entities
# cost more than the statement.
_COMMUNITY, _PERSON = Community.__table__, Person.__table__  # type: ignore[attr-defined]
_N_WO, _N_COMMUNITY = len(_WO.columns), len(_COMMUNITY.columns)


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
    wo = _WO.c
    query = (
        sa_select(*_WO.columns, *_COMMUNITY.columns, *_PERSON.columns)
        .select_from(
            _WO.join(_COMMUNITY, _COMMUNITY.c.id == wo.community_id).outerjoin(
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
        query = query.where(_overdue_condition(bindparam("now")))
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
    scope = await _district_scope(session, actor, flt.district_id, BOARD_ROLES)
    params: dict[str, Any] = {"district_id": flt.district_id}
    if flt.status:
        params["status"] = _enum(flt.status, Status, "status")
    if scope is not None:
        params["scope"] = scope
    if flt.community_id is not None:
        params["community_id"] = flt.community_id
    if flt.category:
        params["category"] = _enum(flt.category, Category, "category")
    if flt.kind:
        params["kind"] = _enum(flt.kind, Kind, "kind")
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


# --- dispatch ------------------------------------------------------------------------------------------------

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


async def _require_manager(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    if not (await staff_roles_for(session, actor, order)) & set(MANAGER_ROLES):
        raise PermissionDenied()


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
    await _transition(session, order, action, actor_id=actor_id, note=note, now=now)
    order.assignee_id = person_id
    session.add(order)
    await session.flush()
    await notify(
        session,
        person_ids=[person_id],
        kind="work_order_assigned",
        title=_("A work order for you: %(category)s"),
        link=f"/orders/{order.id}",
        category=_category_label(order.category),
    )
    return order


def _reason(note: str, *, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise LaoyouError(ErrorCode.INVALID, "Please give a reason.", field="note")
    if len(note) > MAX_NOTE:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it under %(max)s characters.", field="note", max=MAX_NOTE
        )
    check_text(note, field="note")
    return note


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
    await _require_manager(session, actor, order)
    reassigning = order.assignee_id is not None
    note = _reason(note, required=reassigning and assignee_id is not None)
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
    await _transition(session, order, Action.grab, actor_id=actor.person_id)
    order.assignee_id = actor.person_id
    order.responded_at = order.responded_at or utcnow()
    session.add(order)
    await session.flush()
    return order


async def _require_assignee_or_manager(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    if order.assignee_id == actor.person_id and await staff_roles_for(session, actor, order):
        return
    await _require_manager(session, actor, order)


async def do_accept(
    session: AsyncSession, *, actor: Actor, order_id: int, now: datetime | None = None
) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    if order.assignee_id != actor.person_id:
        raise PermissionDenied()
    await _transition(session, order, Action.accept, actor_id=actor.person_id, now=now)
    order.responded_at = order.responded_at or now or utcnow()
    session.add(order)
    await session.flush()
    return order


async def do_transfer(
    session: AsyncSession, *, actor: Actor, order_id: int, assignee_id: int | None, note: str
) -> WorkOrder:
    """The assignee hands the order to a colleague, or back to the pool (no assignee); always with a reason."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_assignee_or_manager(session, actor, order)
    note = _reason(note, required=True)
    if assignee_id is None:
        await _transition(session, order, Action.release, actor_id=actor.person_id, note=note)
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


async def do_start(session: AsyncSession, *, actor: Actor, order_id: int) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_assignee_or_manager(session, actor, order)
    await _transition(session, order, Action.start, actor_id=actor.person_id)
    return order


async def _attach(
    session: AsyncSession, actor: Actor, order: WorkOrder, photo_ids: list[int], stage: str
) -> None:
    if len(photo_ids) > MAX_PHOTOS:
        raise LaoyouError(ErrorCode.INVALID, "At most %(max)s photos.", field="photoIds", max=MAX_PHOTOS)
    photos = await _check_media(
        session, actor, photo_ids, kind="image", community_id=order.community_id, field_name="photoIds"
    )
    have = set(
        await session.exec(
            select(TicketAttachment.media_file_id).where(TicketAttachment.work_order_id == order.id)
        )
    )
    for media in photos:
        if media.id not in have:
            session.add(
                TicketAttachment(
                    work_order_id=order.id,
                    media_file_id=media.id,
                    community_id=order.community_id,
                    district_id=order.district_id,
                    added_by_id=actor.person_id,
                    stage=stage,
                )
            )
    await session.flush()


async def do_finish(
    session: AsyncSession,
    *,
    actor: Actor,
    order_id: int,
    note: str = "",
    photo_ids: list[int] | None = None,
    now: datetime | None = None,
) -> WorkOrder:
    """Mark done, with what was done and photos of the work; the resident is asked to confirm."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_assignee_or_manager(session, actor, order)
    note = _reason(note, required=False)
    check_transition(order, Action.finish)
    await _attach(session, actor, order, photo_ids or [], "work")
    now = now or utcnow()
    await _transition(session, order, Action.finish, actor_id=actor.person_id, note=note, now=now)
    order.done_at = now
    order.responded_at = order.responded_at or now
    session.add(order)
    await session.flush()
    if order.reporter_id:
        await notify(
            session,
            person_ids=[order.reporter_id],
            kind="work_order_done",
            title=_("Your report is done. Please check and rate it."),
            link=f"/orders/{order.id}",
        )
    return order


async def do_add_note(
    session: AsyncSession, *, actor: Actor, order_id: int, note: str, photo_ids: list[int] | None = None
) -> WorkOrder:
    """A note or photos from the worker, the steward or the reporter."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    if not is_reporter_side(actor, order):
        await _require_assignee_or_manager(session, actor, order)
    note = _reason(note, required=not photo_ids)
    check_transition(order, Action.note)
    await _attach(
        session, actor, order, photo_ids or [], "report" if is_reporter_side(actor, order) else "work"
    )
    await _transition(session, order, Action.note, actor_id=actor.person_id, note=note)
    return order


async def _require_reporter_side(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    """The reporter; for a caller without an account, the steward records it on their behalf."""
    if is_reporter_side(actor, order):
        return
    if order.reporter_id is None:
        await _require_manager(session, actor, order)
        return
    raise PermissionDenied()


def check_rating(rating: int, comment: str) -> str:
    if not 1 <= rating <= 5:
        raise LaoyouError(ErrorCode.INVALID, "Please choose from 1 to 5.", field="rating")
    comment = (comment or "").strip()
    if len(comment) > MAX_NOTE:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it under %(max)s characters.", field="comment", max=MAX_NOTE
        )
    check_text(comment, field="comment")
    return comment


async def do_confirm(
    session: AsyncSession,
    *,
    actor: Actor,
    order_id: int,
    rating: int,
    comment: str = "",
    now: datetime | None = None,
) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_reporter_side(session, actor, order)
    comment = check_rating(rating, comment)
    now = now or utcnow()
    await _transition(session, order, Action.confirm, actor_id=actor.person_id, note=comment, now=now)
    order.rating, order.rating_comment, order.closed_at = rating, comment, now
    _plan_return_visit(order, now)
    session.add(order)
    await session.flush()
    return order


def _plan_return_visit(order: WorkOrder, now: datetime) -> None:
    """Complaints get a return visit (回访) from the steward a few days after they are settled."""
    if order.kind == Kind.complaint and order.return_visit_done_at is None:
        order.return_visit_due_at = now + slas.RETURN_VISIT_AFTER


async def do_reopen(
    session: AsyncSession, *, actor: Actor, order_id: int, note: str, now: datetime | None = None
) -> WorkOrder:
    """Not fixed after all: back on the board, with a new time to answer."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_reporter_side(session, actor, order)
    note = _reason(note, required=True)
    now = now or utcnow()
    await _transition(session, order, Action.reopen, actor_id=actor.person_id, note=note, now=now)
    order.reopen_count += 1
    order.rating = None
    order.done_at = order.closed_at = None
    order.escalation_level = 0
    order.escalated_at = None
    order.response_due_at, order.completion_due_at = slas.due_times(
        order.kind, order.category, order.urgency, now
    )
    session.add(order)
    await session.flush()
    if order.assignee_id:
        await notify(
            session,
            person_ids=[order.assignee_id],
            kind="work_order_reopened",
            title=_("A work order was reopened: %(category)s"),
            link=f"/orders/{order.id}",
            category=_category_label(order.category),
        )
    return order


async def do_cancel(session: AsyncSession, *, actor: Actor, order_id: int, note: str = "") -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_reporter_side(session, actor, order)
    note = _reason(note, required=False)
    await _transition(session, order, Action.cancel, actor_id=actor.person_id, note=note)
    order.closed_at = utcnow()
    session.add(order)
    await session.flush()
    return order


async def do_escalate(session: AsyncSession, *, actor: Actor, order_id: int, note: str) -> WorkOrder:
    """A steward sends an order up to the district manager by hand."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_manager(session, actor, order)
    note = _reason(note, required=True)
    await _escalate(session, order, level=max(2, order.escalation_level), actor_id=actor.person_id, note=note)
    return order


async def do_record_return_visit(
    session: AsyncSession, *, actor: Actor, order_id: int, note: str
) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await _require_manager(session, actor, order)
    if order.return_visit_due_at is None or order.return_visit_done_at is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "No return visit is due for this work order.", field="id")
    note = _reason(note, required=True)
    await _transition(session, order, Action.return_visit, actor_id=actor.person_id, note=note)
    order.return_visit_done_at = utcnow()
    order.return_visit_note = note
    session.add(order)
    await session.flush()
    return order


async def list_return_visits(
    session: AsyncSession, *, actor: Actor, district_id: int, first: int
) -> list[WorkOrder]:
    if not actor.has(*MANAGER_ROLES):
        raise PermissionDenied()
    await estates.access_district(session, actor=actor, district_id=district_id)
    scope = await _district_scope(session, actor, district_id, MANAGER_ROLES)
    query = select(WorkOrder).where(
        WorkOrder.district_id == district_id,
        col(WorkOrder.return_visit_due_at).is_not(None),
        col(WorkOrder.return_visit_done_at).is_(None),
    )
    if scope is not None:
        query = query.where(col(WorkOrder.community_id).in_(scope))
    return list(await session.exec(query.order_by(WorkOrder.return_visit_due_at).limit(first)))


def allowed_actions(order: WorkOrder, *, actor: Actor, roles: set[Role]) -> list[Action]:
    """What the viewer may do now (the buttons a page shows); the services check it all again."""
    status = Status(order.status)
    me = actor.person_id if actor.is_authenticated else None
    manager = bool(roles & set(MANAGER_ROLES))
    assignee = order.assignee_id is not None and order.assignee_id == me and bool(roles)
    reporter = is_reporter_side(actor, order) or (order.reporter_id is None and manager)
    result = []
    for action, (sources, _target) in TRANSITIONS.items():
        if status not in sources:
            continue
        ok = {
            Action.assign: manager,
            Action.grab: (Role.field_staff in roles and order.kind == Kind.repair) or manager,
            Action.accept: order.assignee_id == me,
            Action.transfer: assignee or manager,
            Action.release: assignee or manager,
            Action.start: assignee or manager,
            Action.finish: assignee or manager,
            Action.confirm: reporter,
            Action.reopen: reporter,
            Action.cancel: reporter,
            Action.escalate: manager,
            Action.note: assignee or manager or is_reporter_side(actor, order),
            Action.return_visit: manager
            and order.return_visit_due_at is not None
            and order.return_visit_done_at is None,
        }.get(action, False)
        if ok:
            result.append(action)
    return result


# --- SLA, escalation and closing (jobs.py runs these) -------------------------------------------------------


_EMERGENCY_CATEGORIES = frozenset(category for category in Category if category.is_emergency)


def is_emergency(order: WorkOrder) -> bool:
    """An emergency category (gas, flooding, someone trapped in a lift) or a report marked urgent as one."""
    return order.category in _EMERGENCY_CATEGORIES or order.urgency == Urgency.emergency


def is_overdue(order: WorkOrder, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if not order.is_open:
        return False
    if as_utc(order.completion_due_at) < now:
        return True
    return order.status in (S.reported, S.reopened, S.dispatched) and as_utc(order.response_due_at) < now


async def _escalate(
    session: AsyncSession,
    order: WorkOrder,
    *,
    level: int,
    actor_id: int | None,
    note: str,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    await _transition(
        session, order, Action.escalate, actor_id=actor_id, note=note or f"level {level}", now=now
    )
    order.escalation_level = level
    order.escalated_at = now
    session.add(order)
    await session.flush()
    people = await community_stewards(session, order.community_id, district_wide=level >= 2)
    if level < 2 and not people:
        people = await community_stewards(session, order.community_id, district_wide=True)
    await notify(
        session,
        person_ids=people,
        kind="work_order_overdue",
        title=_("Overdue work order: %(category)s"),
        link=f"/orders/{order.id}",
        category=_category_label(order.category),
    )


async def run_escalations(session: AsyncSession, *, now: datetime) -> int:
    """Overdue orders go to the steward; still overdue one response period later, to the district manager.
    A complaint unresolved past its time becomes visible to the community's officials."""
    count = 0
    rows = list(
        await session.exec(select(WorkOrder).where(_overdue_condition(now), WorkOrder.escalation_level < 2))
    )
    for order in rows:
        sla = slas.sla_for(order.kind, order.category, order.urgency)
        if order.escalation_level == 0:
            await _escalate(session, order, level=1, actor_id=None, note="", now=now)
            count += 1
        elif order.escalated_at is not None and as_utc(order.escalated_at) + sla.response <= now:
            await _escalate(session, order, level=2, actor_id=None, note="", now=now)
            count += 1
    complaints = await session.exec(
        select(WorkOrder).where(
            WorkOrder.kind == Kind.complaint.value,
            OPEN,
            col(WorkOrder.official_visible).is_(False),
            WorkOrder.completion_due_at < now,
        )
    )
    for order in complaints:
        order.official_visible = True
        session.add(order)
    await session.flush()
    return count


async def run_auto_close(session: AsyncSession, *, now: datetime) -> int:
    """Done orders nobody rated within 7 days close by themselves."""
    rows = list(
        await session.exec(
            select(WorkOrder).where(
                WorkOrder.status == S.done.value, WorkOrder.done_at <= now - slas.AUTO_CLOSE_AFTER
            )
        )
    )
    for order in rows:
        await _transition(session, order, Action.auto_close, actor_id=None, note="", now=now)
        order.closed_at = now
        _plan_return_visit(order, now)
        session.add(order)
    await session.flush()
    return len(rows)


# --- figures ------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    total: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    avg_response_minutes: float | None = None
    p90_response_minutes: float | None = None
    avg_completion_minutes: float | None = None
    p90_completion_minutes: float | None = None
    sla_compliance: float | None = None  # finished within the completion time, of those finished
    satisfaction: float | None = None  # average rating
    rated: int = 0
    reopen_rate: float | None = None
    overdue_open: int = 0


def _p90(values: list[float]) -> float | None:
    """The 90th percentile with linear interpolation between the closest ranks: PostgreSQL's percentile_cont(0.9)."""
    if not values:
        return None
    ordered = sorted(values)
    position = 0.9 * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _minutes_between(dialect: str, end, start):  # noqa: ANN001, ANN202
    """end - start in minutes, in SQL."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / 60.0
    return (func.julianday(end) - func.julianday(start)) * 1440.0


async def _percentile_90(session: AsyncSession, dialect: str, minutes, conditions: list) -> float | None:  # noqa: ANN001
    """PostgreSQL computes it (percentile_cont); SQLite has no percentile, so only the durations come back."""
    if dialect == "postgresql":
        value = (
            await session.exec(select(func.percentile_cont(0.9).within_group(minutes)).where(*conditions))
        ).one()
        return float(value) if value is not None else None
    return _p90([float(v) for v in await session.exec(select(minutes).where(*conditions))])


async def figures(
    session: AsyncSession,
    *,
    actor: Actor,
    district_id: int,
    community_id: int | None,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> Figures:
    """Counts, response and completion times, SLA compliance, satisfaction and reopen rate for a period,
    computed by the database (aggregates) rather than by loading the period's work orders."""
    actor.require_login()
    if not actor.has(Role.steward, Role.agent, Role.official, Role.admin):
        raise PermissionDenied()
    await estates.access_district(session, actor=actor, district_id=district_id)
    scope = await _district_scope(
        session, actor, district_id, (Role.steward, Role.agent, Role.official, Role.admin)
    )
    conditions: list = [
        WorkOrder.district_id == district_id,
        WorkOrder.created_at >= since,
        WorkOrder.created_at < until,
    ]
    if scope is not None:
        conditions.append(col(WorkOrder.community_id).in_(scope))
    if community_id is not None:
        if scope is not None and community_id not in scope:
            raise NotFound()
        conditions.append(WorkOrder.community_id == community_id)
    if not actor.has(Role.steward, Role.agent, Role.admin):
        conditions.append(or_(WorkOrder.kind == Kind.repair.value, col(WorkOrder.official_visible).is_(True)))
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    result = Figures()
    by_category = list(
        await session.exec(
            select(WorkOrder.category, func.count()).where(*conditions).group_by(WorkOrder.category)
        )
    )
    result.by_category = dict(sorted(by_category, key=lambda item: (-item[1], item[0])))
    result.by_status = {
        status: n
        for status, n in await session.exec(
            select(WorkOrder.status, func.count()).where(*conditions).group_by(WorkOrder.status)
        )
    }
    response = _minutes_between(dialect, WorkOrder.responded_at, WorkOrder.created_at)
    completion = _minutes_between(dialect, WorkOrder.done_at, WorkOrder.created_at)
    finished = col(WorkOrder.done_at).is_not(None)
    row = (
        await session.exec(
            select(
                func.count(),
                func.avg(response),
                func.avg(completion),
                func.count(WorkOrder.done_at),
                func.sum(case((finished & (WorkOrder.done_at <= WorkOrder.completion_due_at), 1), else_=0)),
                func.sum(case((WorkOrder.reopen_count > 0, 1), else_=0)),
                func.count(WorkOrder.rating),
                func.avg(WorkOrder.rating),
                func.sum(case((_overdue_condition(now), 1), else_=0)),
            ).where(*conditions)
        )
    ).one()
    total, avg_response, avg_completion, n_finished, on_time, reopened, rated, avg_rating, overdue = row
    result.total = total
    if avg_response is not None:
        result.avg_response_minutes = round(float(avg_response), 1)
        p90 = await _percentile_90(
            session, dialect, response, [*conditions, col(WorkOrder.responded_at).is_not(None)]
        )
        result.p90_response_minutes = round(p90, 1) if p90 is not None else None
    if avg_completion is not None:
        result.avg_completion_minutes = round(float(avg_completion), 1)
        p90 = await _percentile_90(session, dialect, completion, [*conditions, finished])
        result.p90_completion_minutes = round(p90, 1) if p90 is not None else None
    if n_finished:
        result.sla_compliance = round((on_time or 0) / n_finished, 3)
        result.reopen_rate = round((reopened or 0) / n_finished, 3)
    result.rated = rated
    if rated:
        result.satisfaction = round(float(avg_rating), 2)
    result.overdue_open = overdue or 0
    return result


def period_bounds(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(days=days), now + timedelta(seconds=1)


# --- staff profiles ------------------------------------------------------------------------------------------


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


async def events_for(session: AsyncSession, order_ids: list[int]) -> dict[int, list[WorkOrderEvent]]:
    grouped: dict[int, list[WorkOrderEvent]] = defaultdict(list)
    for event in await session.exec(
        select(WorkOrderEvent)
        .where(col(WorkOrderEvent.work_order_id).in_(order_ids))
        .order_by(WorkOrderEvent.id)
    ):
        grouped[event.work_order_id].append(event)
    return grouped


# Files attached to work orders follow the work order's rules, not only the community's.
if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)
