"""The figures of a district for a period, computed by the database."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.core.errors import NotFound, PermissionDenied
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.tickets.models import Kind, WorkOrder
from laoyou.tickets.service.access import BOARD_ROLES, district_scope
from laoyou.tickets.service.common import overdue_condition


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
    return percentile(values, 0.9)


def percentile(values: list[float], fraction: float) -> float | None:
    """With linear interpolation between the closest ranks: PostgreSQL's percentile_cont(fraction)."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
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
    scope = await district_scope(
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
                func.sum(case((overdue_condition(now), 1), else_=0)),
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


@dataclass(frozen=True)
class OrderFacts:
    """What the assessment counts of one work order; no text, no people."""

    community_id: int
    kind: str
    category: str
    status: str
    created_at: datetime
    done_at: datetime | None
    rating: int | None
    return_visit_done_at: datetime | None


async def order_facts(
    session: AsyncSession, *, actor: Actor, community_ids: list[int], since: datetime, until: datetime
) -> list[OrderFacts]:
    """The orders of these communities (those the actor oversees) reported, finished or visited back in
    [since, until)."""
    actor.require_login()
    if not actor.has(*BOARD_ROLES):
        raise PermissionDenied()
    staff = await estates.staff_community_ids(session, actor)
    ids = [c for c in community_ids if staff is None or c in staff]
    if not ids:
        return []
    rows = await session.exec(
        select(
            WorkOrder.community_id,
            WorkOrder.kind,
            WorkOrder.category,
            WorkOrder.status,
            WorkOrder.created_at,
            WorkOrder.done_at,
            WorkOrder.rating,
            WorkOrder.return_visit_done_at,
        ).where(
            col(WorkOrder.community_id).in_(ids),
            or_(
                (WorkOrder.created_at >= since) & (WorkOrder.created_at < until),
                (WorkOrder.done_at >= since) & (WorkOrder.done_at < until),
                (WorkOrder.return_visit_done_at >= since) & (WorkOrder.return_visit_done_at < until),
            ),
        )
    )
    return [OrderFacts(*row) for row in rows]
