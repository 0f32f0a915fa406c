"""What every part of the work-order service shares: the limits, the state machine (every status change goes
through `transition`, which consults TRANSITIONS and writes an event row), the channels, notifying, the
category labels, the input checks and what counts as open, overdue or an emergency.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.events import announce
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, utcnow
from laoyou.estates import onboarding
from laoyou.estates.models import Community, Household
from laoyou.media.models import MediaFile
from laoyou.tickets.models import OPEN_STATUSES, Category, Status, Urgency, WorkOrder, WorkOrderEvent

MAX_PHOTOS = 6
MAX_TEXT = 1000
MAX_NOTE = 500


def check_photo_count(count: int) -> None:
    """At most MAX_PHOTOS photos to one report or step; a page checks it before it stores any."""
    if count > MAX_PHOTOS:
        raise LaoyouError(ErrorCode.INVALID, "At most %(max)s photos.", field="photoIds", max=MAX_PHOTOS)


def _(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


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


async def transition(
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


def category_label(category: str) -> i18n.Msgid:
    """A category's name, for a sentence: translated with it (i18n.Msgid)."""
    return i18n.Msgid(CATEGORY_LABELS.get(category, category))


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


def check_choice(value: str, enum: type[StrEnum], field_name: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        raise LaoyouError(
            ErrorCode.INVALID, "Please choose one of the offered options.", field=field_name
        ) from None


async def check_media(
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


# On the table's columns, so that the board's plain statement (below) shares them with the entity queries.
WORK_ORDERS = WorkOrder.__table__  # type: ignore[attr-defined]
# `is_open = true`, not `IS 1`: SQLite uses the board's index only for an equality.
OPEN = WORK_ORDERS.c.is_open == True  # noqa: E712


@onboarding.household_archive_check
async def check_household_has_no_open_orders(session: AsyncSession, household: Household) -> None:
    """An open work order keeps its household: the team still has to finish it and call back."""
    found = await session.exec(select(WorkOrder.id).where(WorkOrder.household_id == household.id, OPEN))
    if found.first() is not None:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "This household has open work orders. Please close them first."
        )


def overdue_condition(now: Any):  # noqa: ANN202
    wo = WORK_ORDERS.c
    return OPEN & (
        (wo.completion_due_at < now)
        | (
            wo.status.in_([S.reported.value, S.reopened.value, S.dispatched.value])
            & (wo.response_due_at < now)
        )
    )


def check_reason(note: str, *, required: bool, missing: str = _("Please give a reason.")) -> str:
    note = (note or "").strip()
    if required and not note:
        raise LaoyouError(ErrorCode.INVALID, missing, field="note")
    if len(note) > MAX_NOTE:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it under %(max)s characters.", field="note", max=MAX_NOTE
        )
    check_text(note, field="note")
    return note


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
