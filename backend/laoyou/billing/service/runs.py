"""Bill runs: a period's bills for every household of a community, in resumable batches."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.billing import ledger
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import Account, Bill, BillRun, BillStatus, FeePlan, FeePlanItem, ItemKind, Phase
from laoyou.billing.money import line_amount_fen
from laoyou.billing.service.common import (
    PF,
    billing_channel,
    check_can_write,
    load_community,
)
from laoyou.billing.service.plans import effective_plan, items_for_community
from laoyou.core.db import insert_ignoring
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community, Household, Unit


def period_bounds(period: str, months: int) -> tuple[date, date]:
    """'2026-05' (monthly) or '2026-Q2' (quarterly) -> first and last day."""
    try:
        year_text, _, rest = period.partition("-")
        year = int(year_text)
        if months == 3:
            if not rest.startswith("Q"):
                raise ValueError(period)
            quarter = int(rest[1:])
            if not 1 <= quarter <= 4:
                raise ValueError(period)
            first_month = 3 * quarter - 2
        else:
            first_month = int(rest)
            if not 1 <= first_month <= 12 or len(rest) != 2:
                raise ValueError(period)
        if not 2000 <= year <= 2100:
            raise ValueError(period)
    except ValueError:
        raise LaoyouError(
            ErrorCode.INVALID, "Write the period as 2026-05, or 2026-Q2 for a quarterly plan.", field="period"
        ) from None
    last_month = first_month + months - 1
    return date(year, first_month, 1), date(year, last_month, calendar.monthrange(year, last_month)[1])


def compute_bill(
    plan: FeePlan, items: list[FeePlanItem], area_centi_m2: int
) -> tuple[list[dict[str, Any]], int, int]:
    """Lines, amount due and would-be amount for one household; the trial phase charges nothing."""
    months = plan.period_months
    lines = []
    for item in items:
        amount = line_amount_fen(
            kind=item.kind, unit_price_fen=item.unit_price_fen, area_centi_m2=area_centi_m2, months=months
        )
        lines.append(
            {
                "name": item.name,
                "package": item.package,
                "kind": item.kind,
                "unit_price_fen": item.unit_price_fen,
                "quantity_centi": area_centi_m2 if item.kind == ItemKind.per_m2.value else 100,
                "months": months,
                "amount_fen": amount,
            }
        )
    would_be = sum(line["amount_fen"] for line in lines)
    return lines, (0 if plan.phase == Phase.trial.value else would_be), would_be


async def do_start_bill_run(
    session: AsyncSession, *, actor: Actor | None, community_id: int, period: str
) -> BillRun:
    """Open (or find) the run for this community, period and plan version. actor None = a system job."""
    community = await load_community(session, community_id)
    if actor is not None:
        await check_can_write(session, actor, community_id)
    plan = await effective_plan(session, community)
    if plan is None:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "This community has no active fee plan.", field="communityId"
        )
    period_bounds(period, plan.period_months)
    run = (
        await session.exec(
            select(BillRun).where(
                BillRun.community_id == community_id, BillRun.period == period, BillRun.plan_id == plan.id
            )
        )
    ).first()
    if run is None:
        total = (
            await session.scalar(
                select(func.count())
                .select_from(Household)
                .where(Household.community_id == community_id, col(Household.archived_at).is_(None))
            )
            or 0
        )
        run = BillRun(
            community_id=community_id,
            district_id=community.district_id,
            plan_id=plan.id,
            period=period,
            total=total,
            started_by_id=actor.person_id if actor else None,
        )
        try:
            async with session.begin_nested():
                session.add(run)
                await session.flush()
        except IntegrityError:
            run = (
                await session.exec(
                    select(BillRun).where(
                        BillRun.community_id == community_id,
                        BillRun.period == period,
                        BillRun.plan_id == plan.id,
                    )
                )
            ).one()
    return run


def _insert_ignoring_duplicates(session: AsyncSession):  # noqa: ANN202
    return insert_ignoring(session, Bill.__table__, ["household_id", "period", "plan_id"])


async def do_bill_run_step(session: AsyncSession, *, run: BillRun, batch_size: int = 500) -> int:
    """Bill the next batch of households after the run's cursor; returns how many were handled (0 = done).

    Idempotent: the unique (household, period, plan version) makes a repeated batch insert nothing, and a
    household already billed for the period under an earlier version is skipped.
    """
    if run.finished_at is not None:
        return 0
    plan = await session.get(FeePlan, run.plan_id)
    items = await items_for_community(session, plan, run.community_id)
    start, end = period_bounds(run.period, plan.period_months)
    already = (
        select(Bill.id)
        .where(
            Bill.household_id == Household.id,
            Bill.period == run.period,
            Bill.status != BillStatus.cancelled.value,
        )
        .exists()
    )
    rows = list(
        await session.exec(
            select(Household.id, Unit.floor_area_centi_m2)
            .join(Unit, Unit.id == Household.unit_id)
            .where(
                Household.community_id == run.community_id,
                Household.id > run.cursor,
                col(Household.archived_at).is_(None),
                ~already,
            )
            .order_by(Household.id)
            .limit(batch_size)
        )
    )
    last = (
        await session.exec(
            select(Household.id)
            .where(
                Household.community_id == run.community_id,
                Household.id > run.cursor,
                col(Household.archived_at).is_(None),
            )
            .order_by(Household.id)
            .offset(batch_size - 1)
            .limit(1)
        )
    ).first()
    if not rows and last is None:
        run.finished_at = utcnow()
        run.processed = run.total
        session.add(run)
        await session.flush()
        return 0
    now = utcnow()
    status = BillStatus.statement.value if plan.phase == Phase.trial.value else BillStatus.open.value
    values = []
    for household_id, area in rows:
        lines, amount, would_be = compute_bill(plan, items, area)
        values.append(
            {
                "household_id": household_id,
                "community_id": run.community_id,
                "district_id": run.district_id,
                "plan_id": plan.id,
                "run_id": run.id,
                "period": run.period,
                "period_start": start,
                "period_end": end,
                "due_date": end,
                "floor_area_centi_m2": area,
                "amount_fen": amount,
                "would_be_fen": would_be,
                "paid_fen": 0,
                "waived_fen": 0,
                "status": status if amount or status == BillStatus.statement.value else BillStatus.paid.value,
                "lines": lines,
                "waived_reason": "",
                "created_at": now,
            }
        )
    created_total = created = 0
    if values:
        result = await session.execute(
            _insert_ignoring_duplicates(session).returning(Bill.__table__.c.amount_fen), values
        )
        amounts = [row[0] for row in result]
        created, created_total = len(amounts), sum(amounts)
    # One summary entry per batch: receivable against fee income, for exactly the bills created.
    await ledger.post(
        session,
        community_id=run.community_id,
        district_id=run.district_id,
        kind="bills",
        legs=[debit(PF, Account.receivable, created_total), credit(PF, Account.fee_income, created_total)],
        memo=f"bills {run.period}",  # a marker: the ledger page words it in the reader's language
        ref_type="bill_run",
        ref_id=run.id,
    )
    new_cursor = max([r[0] for r in rows] + ([last] if last else []))
    handled = (
        await session.scalar(
            select(func.count())
            .select_from(Household)
            .where(
                Household.community_id == run.community_id,
                Household.id > run.cursor,
                Household.id <= new_cursor,
                col(Household.archived_at).is_(None),
            )
        )
        or 0
    )
    run.cursor = new_cursor
    run.processed = min(run.total, run.processed + handled)
    run.created += created
    session.add(run)
    await session.flush()
    return handled


async def do_run_bills(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    period: str,
    max_households: int = 5000,
    batch_size: int = 500,
) -> BillRun:
    """The staff button: start or continue a run, up to max_households in this request."""
    run = await do_start_bill_run(session, actor=actor, community_id=community_id, period=period)
    done = 0
    while done < max_households:
        handled = await do_bill_run_step(session, run=run, batch_size=batch_size)
        if not handled:
            break
        done += handled
    if run.finished_at is None and run.processed >= run.total:
        await do_bill_run_step(session, run=run, batch_size=batch_size)
    announce(session, billing_channel(community_id), {"kind": "bill_run", "run": run.id})
    return run


async def access_bill_run(session: AsyncSession, *, actor: Actor, run_id: int) -> BillRun:
    run = await session.get(BillRun, run_id)
    if run is None:
        raise NotFound()
    staff = await estates.staff_community_ids(session, actor)
    if not actor.is_staff or (staff is not None and run.community_id not in staff):
        raise NotFound()
    return run


# --- a district's bill run: every community's run, started once --------------------------------------------


@dataclass
class DistrictRunLine:
    """One community's part of a district's bill run: its run for the period, or why it has none."""

    community: Community
    run: BillRun | None
    problem: LaoyouError | None = None


def can_bill_district(actor: Actor, district_id: int) -> bool:
    """The district's stewards (a grant for the whole district) and the admin start its bill run."""
    return actor.is_admin or any(
        g.district_id == district_id and g.community_id is None for g in actor.grants_of(Role.steward)
    )


async def _district_communities(session: AsyncSession, *, actor: Actor, district_id: int) -> list[Community]:
    actor.require_login()
    await estates.access_district(session, actor=actor, district_id=district_id)
    if not can_bill_district(actor, district_id):
        raise PermissionDenied()
    return list(
        await session.exec(
            select(Community)
            .where(Community.district_id == district_id, col(Community.archived_at).is_(None))
            .order_by(Community.id)
        )
    )


def _check_period(period: str) -> None:
    """Monthly or quarterly: each community's plan says which it needs, checked when its run starts."""
    try:
        period_bounds(period, 1)
    except LaoyouError:
        period_bounds(period, 3)


async def district_bill_runs(
    session: AsyncSession, *, actor: Actor, district_id: int, period: str
) -> list[DistrictRunLine]:
    """Where each community of the district stands for the period (nothing is started)."""
    communities = await _district_communities(session, actor=actor, district_id=district_id)
    _check_period(period)
    lines = []
    for community in communities:
        plan = await effective_plan(session, community)
        if plan is None:
            problem = LaoyouError(ErrorCode.NOT_ALLOWED, "This community has no active fee plan.")
            lines.append(DistrictRunLine(community=community, run=None, problem=problem))
            continue
        run = (
            await session.exec(
                select(BillRun).where(
                    BillRun.community_id == community.id, BillRun.period == period, BillRun.plan_id == plan.id
                )
            )
        ).first()
        lines.append(DistrictRunLine(community=community, run=run))
    return lines


async def do_run_district_bills(
    session: AsyncSession,
    *,
    actor: Actor,
    district_id: int,
    period: str,
    max_households: int = 5000,
    batch_size: int = 500,
) -> list[DistrictRunLine]:
    """The district's button: start or continue every community's run, in community order, up to
    max_households in this request; pressing it again continues where it stopped (each run keeps its cursor).
    A community that cannot be billed (no active plan, a period its plan does not use) is reported and the
    others go on."""
    communities = await _district_communities(session, actor=actor, district_id=district_id)
    _check_period(period)
    budget = max_households
    lines = []
    for community in communities:
        try:
            run = await do_start_bill_run(session, actor=None, community_id=community.id, period=period)
        except LaoyouError as exc:
            lines.append(DistrictRunLine(community=community, run=None, problem=exc))
            continue
        while budget > 0 and run.finished_at is None:
            handled = await do_bill_run_step(session, run=run, batch_size=min(batch_size, budget))
            if not handled:
                break
            budget -= handled
        if run.finished_at is None and run.processed >= run.total:
            await do_bill_run_step(session, run=run, batch_size=batch_size)
        announce(session, billing_channel(community.id), {"kind": "bill_run", "run": run.id})
        lines.append(DistrictRunLine(community=community, run=run))
    return lines
