"""A work order's life after dispatch: accepting, starting, finishing, notes, the resident's confirmation,
reopening, cancelling, escalation (by hand and by the SLA job), return visits and closing by itself.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.core import jobs
from laoyou.core.errors import ErrorCode, LaoyouError, PermissionDenied
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, utcnow
from laoyou.estates import service as estates
from laoyou.tickets import sla as slas
from laoyou.tickets.models import Kind, Status, TicketAttachment, WorkOrder, WorkOrderEvent
from laoyou.tickets.service.access import (
    MANAGER_ROLES,
    access_work_order,
    district_scope,
    is_reporter_side,
    require_assignee_or_manager,
    require_manager,
    require_reporter_side,
)
from laoyou.tickets.service.common import (
    MAX_NOTE,
    OPEN,
    TRANSITIONS,
    Action,
    S,
    _,
    category_label,
    check_media,
    check_photo_count,
    check_reason,
    check_transition,
    community_stewards,
    notify,
    overdue_condition,
    transition,
)


async def do_accept(
    session: AsyncSession, *, actor: Actor, order_id: int, now: datetime | None = None
) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    if order.assignee_id != actor.person_id:
        raise PermissionDenied()
    await transition(session, order, Action.accept, actor_id=actor.person_id, now=now)
    order.responded_at = order.responded_at or now or utcnow()
    session.add(order)
    await session.flush()
    return order


async def do_start(session: AsyncSession, *, actor: Actor, order_id: int) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_assignee_or_manager(session, actor, order)
    await transition(session, order, Action.start, actor_id=actor.person_id)
    return order


async def _attach(
    session: AsyncSession, actor: Actor, order: WorkOrder, photo_ids: list[int], stage: str
) -> None:
    check_photo_count(len(photo_ids))
    photos = await check_media(
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
    """Mark done, with what was done or photos of the work (at least one: the resident and the steward see
    it); the resident is asked to confirm."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_assignee_or_manager(session, actor, order)
    note = check_reason(
        note, required=not photo_ids, missing=_("Please write what was done or add a photo of the work.")
    )
    check_transition(order, Action.finish)
    await _attach(session, actor, order, photo_ids or [], "work")
    now = now or utcnow()
    await transition(session, order, Action.finish, actor_id=actor.person_id, note=note, now=now)
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
        await require_assignee_or_manager(session, actor, order)
    note = check_reason(note, required=not photo_ids, missing=_("Please write a note or add a photo."))
    check_transition(order, Action.note)
    await _attach(
        session, actor, order, photo_ids or [], "report" if is_reporter_side(actor, order) else "work"
    )
    await transition(session, order, Action.note, actor_id=actor.person_id, note=note)
    return order


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
    await require_reporter_side(session, actor, order)
    comment = check_rating(rating, comment)
    now = now or utcnow()
    await transition(session, order, Action.confirm, actor_id=actor.person_id, note=comment, now=now)
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
    await require_reporter_side(session, actor, order)
    note = check_reason(note, required=True)
    now = now or utcnow()
    await transition(session, order, Action.reopen, actor_id=actor.person_id, note=note, now=now)
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
            category=category_label(order.category),
        )
    return order


async def do_cancel(session: AsyncSession, *, actor: Actor, order_id: int, note: str = "") -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_reporter_side(session, actor, order)
    note = check_reason(note, required=False)
    await transition(session, order, Action.cancel, actor_id=actor.person_id, note=note)
    order.closed_at = utcnow()
    session.add(order)
    await session.flush()
    return order


async def do_escalate(session: AsyncSession, *, actor: Actor, order_id: int, note: str) -> WorkOrder:
    """A steward sends an order up to the district manager by hand."""
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_manager(session, actor, order)
    note = check_reason(note, required=True)
    await _escalate(session, order, level=max(2, order.escalation_level), actor_id=actor.person_id, note=note)
    return order


async def do_record_return_visit(
    session: AsyncSession, *, actor: Actor, order_id: int, note: str
) -> WorkOrder:
    order = await access_work_order(session, actor=actor, order_id=order_id)
    await require_manager(session, actor, order)
    if order.return_visit_due_at is None or order.return_visit_done_at is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "No return visit is due for this work order.", field="id")
    note = check_reason(note, required=True)
    await transition(session, order, Action.return_visit, actor_id=actor.person_id, note=note)
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
    scope = await district_scope(session, actor, district_id, MANAGER_ROLES)
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
    await transition(
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
        category=category_label(order.category),
    )


async def run_escalations(session: AsyncSession, *, now: datetime) -> int:
    """Overdue orders go to the steward; still overdue one response period later, to the district manager.
    A complaint unresolved past its time becomes visible to the community's officials. Each order is claimed
    (core.jobs.claim) before it is escalated, so however many workers run this, each level is reached once."""
    count = 0
    rows = list(
        await session.exec(
            jobs.due(
                select(WorkOrder)
                .where(overdue_condition(now), WorkOrder.escalation_level < 2)
                .order_by(WorkOrder.id)
            )
        )
    )
    for order in rows:
        sla = slas.sla_for(order.kind, order.category, order.urgency)
        level = order.escalation_level + 1
        if level == 2 and (order.escalated_at is None or as_utc(order.escalated_at) + sla.response > now):
            continue
        still_due = (overdue_condition(now), WorkOrder.escalation_level == order.escalation_level)
        if await jobs.claim(
            session, WorkOrder, [order.id], *still_due, escalation_level=level, escalated_at=now
        ):
            await session.refresh(order)
            await _escalate(session, order, level=level, actor_id=None, note="", now=now)
            count += 1
    complaints = list(
        await session.exec(
            jobs.due(
                select(WorkOrder.id).where(
                    WorkOrder.kind == Kind.complaint.value,
                    OPEN,
                    col(WorkOrder.official_visible).is_(False),
                    WorkOrder.completion_due_at < now,
                )
            )
        )
    )
    await jobs.claim(
        session, WorkOrder, complaints, col(WorkOrder.official_visible).is_(False), official_visible=True
    )
    await session.flush()
    return count


async def run_auto_close(session: AsyncSession, *, now: datetime) -> int:
    """Done orders nobody rated within 7 days close by themselves (each claimed first, so closed once)."""
    still_due = (
        WorkOrder.status == S.done.value,
        col(WorkOrder.closed_at).is_(None),
        WorkOrder.done_at <= now - slas.AUTO_CLOSE_AFTER,
    )
    rows = list(await session.exec(jobs.due(select(WorkOrder).where(*still_due).order_by(WorkOrder.id))))
    claimed = set(await jobs.claim(session, WorkOrder, [o.id for o in rows], *still_due, closed_at=now))
    for order in rows:
        if order.id not in claimed:
            continue
        await session.refresh(order)
        await transition(session, order, Action.auto_close, actor_id=None, note="", now=now)
        _plan_return_visit(order, now)
        session.add(order)
    await session.flush()
    return len(claimed)


async def events_for(session: AsyncSession, order_ids: list[int]) -> dict[int, list[WorkOrderEvent]]:
    grouped: dict[int, list[WorkOrderEvent]] = defaultdict(list)
    for event in await session.exec(
        select(WorkOrderEvent)
        .where(col(WorkOrderEvent.work_order_id).in_(order_ids))
        .order_by(WorkOrderEvent.id)
    ):
        grouped[event.work_order_id].append(event)
    return grouped
