"""Billing: fee plans, bill runs, payments and notifications, refunds, waivers and each community's books.

Scoping lives here. Residents and family act on the households of their grants; stewards (and the
operator's admin) write to the communities they serve; officials read the same and write nothing.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import FamilyLink, FamilyLinkStatus, Role, RoleGrant
from laoyou.billing import ledger
from laoyou.billing.gateways import (
    Gateway,
    GatewayError,
    InvalidNotification,
    OrderRequest,
    RefundRequest,
    RefundResult,
    RefundState,
    Reply,
    TradeResult,
    TradeState,
    unit_of_work,
)
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import (
    Account,
    Bill,
    BillRun,
    BillStatus,
    FeePlan,
    FeePlanItem,
    Fund,
    ItemKind,
    JournalEntry,
    JournalLine,
    LedgerAttachment,
    PackageAdoption,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    PaymentNotification,
    PaymentStatus,
    Phase,
    PlanStatus,
    Refund,
    RefundStatus,
    RefusedNotification,
)
from laoyou.billing.money import line_amount_fen, yuan
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.logs import BoundedLog
from laoyou.core.pagination import Page
from laoyou.core.text import check_text
from laoyou.core.time import SHANGHAI, as_utc, day_start, local_date, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Community, Household, Unit
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile

log = logging.getLogger("laoyou.billing")
unverified_log = BoundedLog(log)

PF = Fund.property_fee
MAX_BILLS_PER_PAYMENT = 24


def billing_channel(community_id: int) -> str:
    return f"billing:{community_id}"


# --- who may do what ----------------------------------------------------------------------------------


async def _communities_of(session: AsyncSession, actor: Actor, *roles: Role) -> set[int] | None:
    """Communities the actor's grants of these roles cover (district grants and 挂单 included); None = all."""
    if actor.is_admin:
        return None
    narrowed = Actor(person=actor.person, grants=actor.grants_of(*roles))
    found = await estates.staff_community_ids(session, narrowed)
    return set() if found is None else found


async def writable_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    actor.require_login()
    return await _communities_of(session, actor, Role.steward)


async def books_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    """Who reads a community's books: its stewards, its officials, the admin."""
    actor.require_login()
    return await _communities_of(session, actor, Role.steward, Role.official)


async def check_can_write(session: AsyncSession, actor: Actor, community_id: int) -> None:
    allowed = await writable_community_ids(session, actor)
    if allowed is not None and community_id not in allowed:
        readable = await estates.staff_community_ids(session, actor)
        if readable is None or community_id in readable:
            raise PermissionDenied()
        raise NotFound()


async def check_can_read_books(session: AsyncSession, actor: Actor, community_id: int) -> None:
    allowed = await books_community_ids(session, actor)
    if allowed is not None and community_id not in allowed:
        raise NotFound()


async def _community(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound()
    return community


def _fingerprint(**params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not 8 <= len(key) <= 64:
        raise LaoyouError(
            ErrorCode.INVALID,
            "The request needs an idempotency key of 8 to 64 characters.",
            field="idempotencyKey",
        )
    return key


# --- fee plans ----------------------------------------------------------------------------------------


@dataclass
class ItemInput:
    name: str
    kind: ItemKind
    unit_price_fen: int
    package: str = "base"


async def do_create_fee_plan(
    session: AsyncSession,
    *,
    actor: Actor,
    name: str,
    phase: Phase,
    items: list[ItemInput],
    community_id: int | None = None,
    district_id: int | None = None,
    period_months: int = 1,
) -> FeePlan:
    """A draft plan for a community, or for a whole district (inherited unless a community has its own)."""
    actor.require_login()
    if (community_id is None) == (district_id is None):
        raise LaoyouError(ErrorCode.INVALID, "Choose a community or a district.", field="communityId")
    if community_id is not None:
        community = await _community(session, community_id)
        await check_can_write(session, actor, community_id)
        district_id, scope = community.district_id, f"c:{community_id}"
    else:
        await estates.access_district(session, actor=actor, district_id=district_id)
        district_grants = {g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None}
        if not actor.is_admin and district_id not in district_grants:
            raise PermissionDenied()
        scope = f"d:{district_id}"
    name = name.strip()
    if not name or len(name) > 100:
        raise LaoyouError(ErrorCode.INVALID, "Give the plan a name.", field="name")
    check_text(name, field="name")
    if period_months not in (1, 3):
        raise LaoyouError(ErrorCode.INVALID, "Bills are monthly or quarterly.", field="periodMonths")
    if not any(item.package == "base" for item in items):
        raise LaoyouError(
            ErrorCode.INVALID, "A plan needs at least one item in its base package.", field="items"
        )
    for item in items:
        if item.unit_price_fen < 0 or item.unit_price_fen > 1_000_000 or not item.name.strip():
            raise LaoyouError(
                ErrorCode.INVALID, "Each item needs a name and a price of zero or more.", field="items"
            )
        check_text(item.name, field="items")
        check_text(item.package, field="items")
    version = (
        await session.scalar(select(func.max(FeePlan.version)).where(FeePlan.scope_key == scope)) or 0
    ) + 1
    plan = FeePlan(
        district_id=district_id,
        community_id=community_id,
        scope_key=scope,
        version=version,
        name=name,
        phase=phase.value,
        period_months=period_months,
        created_by_id=actor.person_id,
    )
    session.add(plan)
    await session.flush()
    for item in items:
        session.add(
            FeePlanItem(
                plan_id=plan.id,
                package=item.package.strip()[:50] or "base",
                name=item.name.strip()[:100],
                kind=item.kind.value,
                unit_price_fen=item.unit_price_fen,
            )
        )
    await session.flush()
    return plan


async def access_fee_plan(session: AsyncSession, *, actor: Actor, plan_id: int) -> FeePlan:
    actor.require_login()
    plan = await session.get(FeePlan, plan_id)
    if plan is None:
        raise NotFound()
    visible = await estates.visible_community_ids(session, actor)
    if visible is None:
        return plan
    if plan.community_id is not None and plan.community_id in visible:
        return plan
    if plan.community_id is None:
        districts = await estates.visible_district_ids(session, actor)
        if districts is None or plan.district_id in districts:
            return plan
    raise NotFound()


async def do_activate_fee_plan(
    session: AsyncSession, *, actor: Actor, plan_id: int, decision_ref: str, approver_id: int | None = None
) -> FeePlan:
    """Activate a plan on an owners' decision; the previous active version of the same scope retires."""
    plan = await access_fee_plan(session, actor=actor, plan_id=plan_id)
    if plan.community_id is not None:
        await check_can_write(session, actor, plan.community_id)
    elif not actor.is_admin and plan.district_id not in {
        g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None
    }:
        raise PermissionDenied()
    decision_ref = decision_ref.strip()
    if not decision_ref:
        raise LaoyouError(
            ErrorCode.INVALID, "Name the owners' decision that approves this plan.", field="decisionRef"
        )
    if plan.status != PlanStatus.draft.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Only a draft plan can be activated.")
    await session.exec(
        update(FeePlan)
        .where(FeePlan.scope_key == plan.scope_key, FeePlan.status == PlanStatus.active.value)
        .values(status=PlanStatus.retired.value)
    )
    plan.status = PlanStatus.active.value
    plan.approved_by_id = approver_id or actor.person_id
    plan.approved_at = utcnow()
    plan.decision_ref = decision_ref[:200]
    session.add(plan)
    await session.flush()
    await accounts.audit(
        session,
        actor=actor,
        action="billing.plan_activated",
        subject_type="fee_plan",
        subject_id=plan.id,
        detail=decision_ref,
    )
    return plan


async def do_adopt_package(
    session: AsyncSession, *, actor: Actor, community_id: int, plan_id: int, package: str, decision_ref: str
) -> PackageAdoption:
    community = await _community(session, community_id)
    await check_can_write(session, actor, community_id)
    plan = await access_fee_plan(session, actor=actor, plan_id=plan_id)
    if plan.community_id not in (None, community_id) or plan.district_id != community.district_id:
        raise NotFound()
    exists = await session.scalar(
        select(func.count())
        .select_from(FeePlanItem)
        .where(FeePlanItem.plan_id == plan_id, FeePlanItem.package == package, FeePlanItem.package != "base")
    )
    if not exists:
        raise LaoyouError(ErrorCode.INVALID, "That add-on package is not in the plan.", field="package")
    if not decision_ref.strip():
        raise LaoyouError(
            ErrorCode.INVALID, "Name the owners' decision that approves this plan.", field="decisionRef"
        )
    adoption = PackageAdoption(
        community_id=community_id,
        district_id=community.district_id,
        plan_id=plan_id,
        package=package,
        decision_ref=decision_ref.strip()[:200],
    )
    try:
        async with session.begin_nested():
            session.add(adoption)
            await session.flush()
    except IntegrityError:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS, "This community has already adopted that package."
        ) from None
    return adoption


async def effective_plan(session: AsyncSession, community: Community) -> FeePlan | None:
    """The community's own active plan, else its district's."""
    rows = list(
        await session.exec(
            select(FeePlan)
            .where(
                FeePlan.status == PlanStatus.active.value,
                (FeePlan.community_id == community.id)
                | (col(FeePlan.community_id).is_(None) & (FeePlan.district_id == community.district_id)),
            )
            .order_by(col(FeePlan.community_id).is_(None), col(FeePlan.version).desc())
        )
    )
    return rows[0] if rows else None


async def plan_items(session: AsyncSession, plan_id: int) -> list[FeePlanItem]:
    return list(
        await session.exec(select(FeePlanItem).where(FeePlanItem.plan_id == plan_id).order_by(FeePlanItem.id))
    )


async def items_for_community(session: AsyncSession, plan: FeePlan, community_id: int) -> list[FeePlanItem]:
    """The base package plus the add-ons this community adopted."""
    adopted = set(
        await session.exec(
            select(PackageAdoption.package).where(
                PackageAdoption.plan_id == plan.id, PackageAdoption.community_id == community_id
            )
        )
    )
    return [i for i in await plan_items(session, plan.id) if i.package == "base" or i.package in adopted]


async def list_fee_plans(session: AsyncSession, *, actor: Actor, community_id: int) -> list[FeePlan]:
    community = await estates.access_community(session, actor=actor, community_id=community_id)
    return list(
        await session.exec(
            select(FeePlan)
            .where(
                (FeePlan.community_id == community.id)
                | (col(FeePlan.community_id).is_(None) & (FeePlan.district_id == community.district_id))
            )
            .order_by(col(FeePlan.id).desc())
        )
    )


# --- periods and amounts ------------------------------------------------------------------------------


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


# --- bill runs ----------------------------------------------------------------------------------------


async def do_start_bill_run(
    session: AsyncSession, *, actor: Actor | None, community_id: int, period: str
) -> BillRun:
    """Open (or find) the run for this community, period and plan version. actor None = a system job."""
    community = await _community(session, community_id)
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
                select(func.count()).select_from(Household).where(Household.community_id == community_id)
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


def _insert_ignoring(session: AsyncSession, table: Any, unique: list[str]):  # noqa: ANN202
    """INSERT … ON CONFLICT (unique) DO NOTHING, on PostgreSQL and SQLite."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=unique)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=unique)


def _insert_ignoring_duplicates(session: AsyncSession):  # noqa: ANN202
    return _insert_ignoring(session, Bill.__table__, ["household_id", "period", "plan_id"])


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
            .where(Household.community_id == run.community_id, Household.id > run.cursor, ~already)
            .order_by(Household.id)
            .limit(batch_size)
        )
    )
    last = (
        await session.exec(
            select(Household.id)
            .where(Household.community_id == run.community_id, Household.id > run.cursor)
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
        memo=f"bills {run.period}",
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


async def run_bill_job(
    sessionmaker: Any,
    *,
    community_id: int,
    period: str,
    batch_size: int = 500,
    fail_after_batches: int | None = None,
) -> int:
    """The background job: one committed transaction per batch, so a killed run resumes from its cursor."""
    async with sessionmaker() as session:
        run = await do_start_bill_run(session, actor=None, community_id=community_id, period=period)
        await session.commit()
        run_id = run.id
    batches = 0
    while True:
        async with sessionmaker() as session:
            run = await session.get(BillRun, run_id)
            handled = await do_bill_run_step(session, run=run, batch_size=batch_size)
            batches += 1
            if fail_after_batches is not None and batches > fail_after_batches:
                raise RuntimeError("bill run killed on purpose")  # the transaction is rolled back
            await session.commit()
            if not handled:
                return run_id


async def access_bill_run(session: AsyncSession, *, actor: Actor, run_id: int) -> BillRun:
    run = await session.get(BillRun, run_id)
    if run is None:
        raise NotFound()
    staff = await estates.staff_community_ids(session, actor)
    if not actor.is_staff or (staff is not None and run.community_id not in staff):
        raise NotFound()
    return run


# --- bills --------------------------------------------------------------------------------------------


def restatus(bill: Bill) -> None:
    if bill.status in (BillStatus.cancelled.value, BillStatus.statement.value):
        return
    outstanding = bill.amount_fen - bill.paid_fen - bill.waived_fen
    if outstanding == 0:
        bill.status = BillStatus.waived.value if bill.waived_fen else BillStatus.paid.value
    elif bill.paid_fen > 0:
        bill.status = BillStatus.partly_paid.value
    else:
        bill.status = BillStatus.open.value


async def access_bill(session: AsyncSession, *, actor: Actor, bill_id: int) -> Bill:
    actor.require_login()
    bill = await session.get(Bill, bill_id)
    if bill is None:
        raise NotFound()
    if bill.household_id in actor.household_ids:
        return bill
    staff = await estates.staff_community_ids(session, actor)
    if actor.is_staff and (staff is None or bill.community_id in staff):
        return bill
    raise NotFound()


async def list_household_bills(
    session: AsyncSession,
    *,
    actor: Actor,
    household_id: int,
    first: int,
    after: int | None,
    unpaid_only: bool = False,
) -> Page[Bill]:
    await estates.access_household(session, actor=actor, household_id=household_id)
    query = select(Bill).where(Bill.household_id == household_id)
    if unpaid_only:
        query = query.where(col(Bill.status).in_([BillStatus.open.value, BillStatus.partly_paid.value]))
    if after is not None:
        query = query.where(Bill.id < after)
    rows = list(await session.exec(query.order_by(col(Bill.id).desc()).limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


async def list_my_bills(
    session: AsyncSession, *, actor: Actor, first: int, unpaid_only: bool = False
) -> list[Bill]:
    actor.require_login()
    if not actor.household_ids:
        return []
    query = select(Bill).where(col(Bill.household_id).in_(actor.household_ids))
    if unpaid_only:
        query = query.where(col(Bill.status).in_([BillStatus.open.value, BillStatus.partly_paid.value]))
    return list(await session.exec(query.order_by(col(Bill.id).desc()).limit(first)))


async def bills_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Bill]:
    return {b.id: b for b in await session.exec(select(Bill).where(col(Bill.id).in_(ids)))}


async def do_waive_bill(session: AsyncSession, *, actor: Actor, bill_id: int, reason: str) -> Bill:
    """Forgive what is still owed on a bill, with a reason and the approver."""
    bill = await access_bill(session, actor=actor, bill_id=bill_id)
    await check_can_write(session, actor, bill.community_id)
    reason = reason.strip()
    if not reason:
        raise LaoyouError(ErrorCode.INVALID, "Say why the bill is waived.", field="reason")
    check_text(reason, field="reason")
    bill = await _lock_bill(session, bill.id)
    outstanding = bill.outstanding_fen
    if outstanding <= 0:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Nothing is owed on this bill.")
    bill.waived_fen += outstanding
    bill.waived_reason = reason[:200]
    bill.waived_by_id = actor.person_id
    bill.waived_at = utcnow()
    restatus(bill)
    session.add(bill)
    await ledger.post(
        session,
        community_id=bill.community_id,
        district_id=bill.district_id,
        kind="waiver",
        legs=[debit(PF, Account.fee_waived, outstanding), credit(PF, Account.receivable, outstanding)],
        memo=reason,
        ref_type="bill",
        ref_id=bill.id,
        created_by_id=actor.person_id,
    )
    await session.flush()
    return bill


async def do_cancel_bill(session: AsyncSession, *, actor: Actor, bill_id: int, reason: str) -> Bill:
    """Withdraw a bill issued by mistake; one that has payments is refunded first."""
    bill = await access_bill(session, actor=actor, bill_id=bill_id)
    await check_can_write(session, actor, bill.community_id)
    check_text(reason, field="reason")
    bill = await _lock_bill(session, bill.id)
    if bill.paid_fen or bill.status == BillStatus.cancelled.value:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "A bill with payments cannot be cancelled; refund them first."
        )
    outstanding = bill.outstanding_fen
    waived = bill.waived_fen
    bill.status = BillStatus.cancelled.value
    bill.waived_reason = (reason.strip() or "cancelled")[:200]
    session.add(bill)
    await ledger.post(
        session,
        community_id=bill.community_id,
        district_id=bill.district_id,
        kind="cancel",
        legs=[
            debit(PF, Account.fee_income, outstanding + waived),
            credit(PF, Account.receivable, outstanding),
            credit(PF, Account.fee_waived, waived),
        ],
        memo=reason,
        ref_type="bill",
        ref_id=bill.id,
        created_by_id=actor.person_id,
    )
    await session.flush()
    return bill


async def _lock_bill(session: AsyncSession, bill_id: int) -> Bill:
    return (
        await session.exec(
            select(Bill).where(Bill.id == bill_id).with_for_update().execution_options(populate_existing=True)
        )
    ).one()


Notifier = Callable[..., Awaitable[None]]


async def notify_overdue(session: AsyncSession, *, bill: Bill, person_ids: list[int]) -> None:
    """The overdue-reminder hook: today a notification on the home page; push plugs in here."""

    for person_id in person_ids:
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="bill_overdue",
            title=i18n.gettext("A property fee bill is waiting to be paid"),
            body=i18n.gettext(
                "%(period)s: %(amount)s yuan", period=bill.period, amount=yuan(bill.outstanding_fen)
            ),
            link=f"/bills/{bill.id}",
        )


async def do_remind_overdue(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    notifier: Notifier = notify_overdue,
    limit: int = 5000,
) -> int:
    """Remind the residents and accepted family of each overdue bill, at most once per bill per local day
    (a second run the same day reminds nobody; the next day the bill is reminded again while it is owed)."""
    now = now or utcnow()
    today = local_date(now)
    start_of_today = day_start(today)
    bills = list(
        await session.exec(
            select(Bill)
            .where(
                col(Bill.status).in_([BillStatus.open.value, BillStatus.partly_paid.value]),
                Bill.due_date < today,
                col(Bill.reminded_at).is_(None) | (Bill.reminded_at < start_of_today),
            )
            .order_by(Bill.id)
            .limit(limit)
        )
    )
    if not bills:
        return 0
    household_ids = {b.household_id for b in bills}
    people: dict[int, list[int]] = {}
    for grant in await session.exec(
        select(RoleGrant).where(
            col(RoleGrant.household_id).in_(household_ids),
            col(RoleGrant.revoked_at).is_(None),
            col(RoleGrant.role).in_([Role.resident.value, Role.family.value]),
        )
    ):
        people.setdefault(grant.household_id, []).append(grant.person_id)
    for bill in bills:
        await notifier(session, bill=bill, person_ids=sorted(set(people.get(bill.household_id, []))))
    await session.exec(update(Bill).where(col(Bill.id).in_([b.id for b in bills])).values(reminded_at=now))
    await session.flush()
    return len(bills)


# --- payments -----------------------------------------------------------------------------------------


def _new_trade_no() -> str:
    return "LY" + utcnow().strftime("%Y%m%d%H%M%S") + secrets.token_hex(5).upper()


def _new_receipt_no(community_id: int) -> str:
    return f"R{utcnow().astimezone(SHANGHAI):%Y%m%d}{community_id:04d}{secrets.token_hex(4).upper()}"


async def _existing(session: AsyncSession, payer_id: int, key: str) -> Payment | None:
    return (
        await session.exec(
            select(Payment).where(Payment.payer_id == payer_id, Payment.idempotency_key == key)
        )
    ).first()


async def _payable_bills(session: AsyncSession, bill_ids: list[int]) -> list[Bill]:
    if not bill_ids or len(bill_ids) > MAX_BILLS_PER_PAYMENT or len(set(bill_ids)) != len(bill_ids):
        raise LaoyouError(ErrorCode.INVALID, "Choose the bills to pay.", field="billIds")
    found = await bills_by_ids(session, bill_ids)
    if len(found) != len(bill_ids):
        raise NotFound()
    bills = [found[i] for i in bill_ids]
    if len({b.household_id for b in bills}) != 1:
        raise LaoyouError(ErrorCode.INVALID, "Pay the bills of one home at a time.", field="billIds")
    return bills


async def do_pay_bills(
    session: AsyncSession,
    *,
    actor: Actor,
    bill_ids: list[int],
    method: PaymentMethod | None,
    idempotency_key: str,
    gateway: Gateway | None,
    client_ip: str = "",
) -> Payment:
    """A resident, or family for a linked household, starts paying one or several bills online.

    A retry with the same key returns the first payment; the same key with other bills is refused. A method
    this process has no gateway for (none at all, or the sandbox in production) is refused.
    """
    actor.require_login()
    key = _check_key(idempotency_key)
    fingerprint = _fingerprint(bills=sorted(bill_ids), method=method.value if method else "")
    existing = await _existing(session, actor.person_id, key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if method is None or not method.is_online or gateway is None:
        raise LaoyouError(ErrorCode.INVALID, "That way of paying is not available.", field="method")
    bills = await _payable_bills(session, bill_ids)
    if bills[0].household_id not in actor.household_ids:
        raise NotFound()
    amount = sum(b.outstanding_fen for b in bills)
    if amount <= 0 or any(b.outstanding_fen <= 0 for b in bills):
        raise LaoyouError(ErrorCode.NOTHING_TO_PAY, "Nothing is owed on these bills.", field="billIds")
    household = await session.get(Household, bills[0].household_id)
    community = await _community(session, household.community_id)
    out_trade_no = _new_trade_no()
    periods = "、".join(sorted({b.period for b in bills}))
    try:
        with unit_of_work(session):
            created = await gateway.create_order(
                OrderRequest(
                    out_trade_no=out_trade_no,
                    amount_fen=amount,
                    description=f"{community.name} 物业费 {periods}"[:127],
                    client_ip=client_ip,
                )
            )
    except GatewayError as exc:
        log.warning("order creation failed: %s", exc)
        raise LaoyouError(
            ErrorCode.GATEWAY_ERROR, "The payment service did not answer. Please try again."
        ) from None
    payment = Payment(
        household_id=household.id,
        community_id=household.community_id,
        district_id=household.district_id,
        payer_id=actor.person_id,
        method=method.value,
        amount_fen=amount,
        status=PaymentStatus.pending.value,
        out_trade_no=out_trade_no,
        receipt_number=_new_receipt_no(household.community_id),
        pay_url=created.pay_url or created.code_url,
        idempotency_key=key,
        request_hash=fingerprint,
        bill_ids=[b.id for b in bills],
    )
    session.add(payment)
    await session.flush()
    return payment


async def do_record_office_payment(
    session: AsyncSession,
    *,
    actor: Actor,
    bill_ids: list[int],
    method: PaymentMethod,
    amount_fen: int,
    office_receipt_no: str,
    idempotency_key: str,
) -> Payment:
    """A steward records cash or a bank transfer taken at the office, with its receipt number."""
    actor.require_login()
    key = _check_key(idempotency_key)
    fingerprint = _fingerprint(
        bills=sorted(bill_ids), method=method.value, amount=amount_fen, receipt=office_receipt_no.strip()
    )
    existing = await _existing(session, actor.person_id, key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if method not in (PaymentMethod.cash, PaymentMethod.bank_transfer):
        raise LaoyouError(ErrorCode.INVALID, "That way of paying is not available.", field="method")
    bills = await _payable_bills(session, bill_ids)
    for bill in bills:
        await access_bill(session, actor=actor, bill_id=bill.id)
    await check_can_write(session, actor, bills[0].community_id)
    if not office_receipt_no.strip():
        raise LaoyouError(ErrorCode.INVALID, "Write the receipt number.", field="officeReceiptNo")
    check_text(office_receipt_no, field="officeReceiptNo")
    owed = sum(b.outstanding_fen for b in bills)
    if amount_fen <= 0 or amount_fen > owed:
        raise LaoyouError(
            ErrorCode.INVALID,
            "The amount must be more than zero and no more than what is owed.",
            field="amountFen",
        )
    payment = Payment(
        household_id=bills[0].household_id,
        community_id=bills[0].community_id,
        district_id=bills[0].district_id,
        payer_id=actor.person_id,
        method=method.value,
        amount_fen=amount_fen,
        status=PaymentStatus.pending.value,
        out_trade_no=_new_trade_no(),
        receipt_number=_new_receipt_no(bills[0].community_id),
        office_receipt_no=office_receipt_no.strip()[:50],
        idempotency_key=key,
        request_hash=fingerprint,
        bill_ids=[b.id for b in bills],
    )
    session.add(payment)
    await session.flush()
    await apply_payment(session, payment=payment, transaction_id="")
    return payment


async def apply_payment(session: AsyncSession, *, payment: Payment, transaction_id: str) -> bool:
    """Mark a payment paid and allocate it to its bills, exactly once; True if this call applied it."""
    paid_at = utcnow()
    result = await session.exec(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PaymentStatus.pending.value)
        .values(status=PaymentStatus.paid.value, paid_at=paid_at, transaction_id=transaction_id or None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    # This call won the guarded update: the row is ours to finish; no refresh round trip is needed.
    for name, value in (
        ("status", PaymentStatus.paid.value),
        ("paid_at", paid_at),
        ("transaction_id", transaction_id or None),
    ):
        set_committed_value(payment, name, value)
    remaining = payment.amount_fen
    allocations = []
    for bill_id in payment.bill_ids:
        bill = await _lock_bill(session, bill_id)
        share = min(remaining, max(bill.outstanding_fen, 0))
        if share <= 0:
            continue
        bill.paid_fen += share
        restatus(bill)
        session.add(bill)
        allocations.append(
            {
                "payment_id": payment.id,
                "bill_id": bill.id,
                "community_id": bill.community_id,
                "district_id": bill.district_id,
                "amount_fen": share,
                "created_at": utcnow(),
            }
        )
        remaining -= share
    if allocations:
        await session.execute(insert(PaymentAllocation), allocations)
    applied = payment.amount_fen - remaining
    payment.applied_fen = applied
    payment.unapplied_fen = remaining  # the bills were settled another way meanwhile: held as 预收
    session.add(payment)
    await ledger.post(
        session,
        community_id=payment.community_id,
        district_id=payment.district_id,
        kind="payment",
        legs=[
            debit(PF, Account.cash, payment.amount_fen),
            credit(PF, Account.receivable, applied),
            credit(PF, Account.advance_received, remaining),
        ],
        memo=payment.receipt_number,
        ref_type="payment",
        ref_id=payment.id,
        created_by_id=payment.payer_id,
    )
    await session.flush()
    announce(session, f"payment:{payment.id}", {"status": PaymentStatus.paid.value})
    announce(session, billing_channel(payment.community_id), {"kind": "payment", "payment": payment.id})
    return True


async def _refuse(
    session: AsyncSession,
    *,
    provider: str,
    reason: str,
    headers: dict[str, str],
    body: bytes,
    trade: TradeResult | None = None,
) -> None:
    log.warning("refused %s notification: %s", provider, reason)
    session.add(
        RefusedNotification(
            provider=provider,
            reason=reason[:200],
            out_trade_no=(trade.out_trade_no if trade else "")[:64],
            transaction_id=(trade.transaction_id if trade else "")[:64],
            headers=json.dumps(headers, ensure_ascii=False)[:2000],
            body=body.decode("utf-8", "replace")[:8000],
        )
    )
    await session.flush()


async def record_trade(
    session: AsyncSession,
    *,
    gateway: Gateway,
    trade: TradeResult,
    source: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> str:
    """Record a provider's word on an order once (by transaction id), check it, and apply it once.

    Returns applied, duplicate, ignored or refused.
    """
    provider = gateway.name
    if trade.state != TradeState.success:
        return "ignored"
    payment = (await session.exec(select(Payment).where(Payment.out_trade_no == trade.out_trade_no))).first()
    reason = None
    if payment is None or payment.method != provider:
        reason = "unknown order"
    elif trade.merchant_id != gateway.merchant_id:
        reason = "merchant does not match"
    elif trade.amount_fen != payment.amount_fen:
        reason = "amount does not match"
    elif not trade.transaction_id:
        reason = "no transaction id"
    if reason:
        await _refuse(
            session, provider=provider, reason=reason, headers=headers or {}, body=body, trade=trade
        )
        return "refused"
    # Recorded once by the provider's transaction id, in one statement: a duplicate (even one delivered
    # concurrently) inserts nothing and returns no row, with no savepoint or pre-check round trip.
    values = {
        "provider": provider,
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "amount_fen": trade.amount_fen,
        "merchant_id": trade.merchant_id,
        "source": source,
        "payment_id": payment.id,
        "community_id": payment.community_id,
        "district_id": payment.district_id,
        "received_at": utcnow(),
    }
    recorded = (
        await session.execute(
            _insert_ignoring(session, PaymentNotification.__table__, ["provider", "transaction_id"])
            .values(**values)
            .returning(PaymentNotification.__table__.c.id)
        )
    ).first()
    if recorded is None:
        return "duplicate"
    return (
        "applied"
        if await apply_payment(session, payment=payment, transaction_id=trade.transaction_id)
        else "duplicate"
    )


async def do_receive_notification(
    session: AsyncSession, *, gateway: Gateway, headers: dict[str, str], body: bytes
) -> tuple[Reply, str]:
    """The notify endpoint's work: verify, record once, apply once, answer as the provider expects."""
    try:
        trade = gateway.verify_notification(headers, body)
    except InvalidNotification as exc:
        # Anyone can post here: what the gateway did not sign is logged (bounded) and never stored, so nobody
        # fills the database from outside. A signed notification that does not match its order is kept below.
        unverified_log.warning("refused %s notification: %s", gateway.name, str(exc)[:200])
        return gateway.failure_reply(str(exc)), "refused"
    if isinstance(trade, RefundResult):
        outcome = await record_refund_result(
            session, gateway=gateway, result=trade, source="notify", headers=headers, body=body
        )
    else:
        outcome = await record_trade(
            session, gateway=gateway, trade=trade, source="notify", headers=headers, body=body
        )
    if outcome == "refused":
        return gateway.failure_reply("order does not match"), outcome
    return gateway.success_reply(), outcome


async def access_payment(session: AsyncSession, *, actor: Actor, payment_id: int) -> Payment:
    actor.require_login()
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    if payment.payer_id == actor.person_id or payment.household_id in actor.household_ids:
        return payment
    staff = await estates.staff_community_ids(session, actor)
    if actor.is_staff and (staff is None or payment.community_id in staff):
        return payment
    raise NotFound()


async def access_payment_to_confirm(session: AsyncSession, *, actor: Actor, out_trade_no: str) -> Payment:
    """A payment waiting at a cashier, for the person who started it or one who may pay for its household."""
    actor.require_login()
    payment = (await session.exec(select(Payment).where(Payment.out_trade_no == out_trade_no))).first()
    if payment is None or not (
        payment.payer_id == actor.person_id or payment.household_id in actor.household_ids
    ):
        raise NotFound()  # staff may see payments, but only the payer's side confirms one
    return payment


async def do_refresh_payment(
    session: AsyncSession, *, actor: Actor, payment_id: int, gateway: Gateway | None
) -> Payment:
    """The result page's "check again": ask the gateway about a payment still waiting for its notification."""
    payment = await access_payment(session, actor=actor, payment_id=payment_id)
    if payment.status == PaymentStatus.pending.value and gateway is not None:
        await _query_and_apply(session, gateway=gateway, payment=payment)
        await session.refresh(payment)
    return payment


async def _query_and_apply(session: AsyncSession, *, gateway: Gateway, payment: Payment) -> str:
    try:
        with unit_of_work(session):
            trade = await gateway.query_order(payment.out_trade_no)
    except GatewayError as exc:
        log.warning("query of %s failed: %s", payment.out_trade_no, exc)
        return "unreachable"
    if trade.state == TradeState.success:
        return await record_trade(session, gateway=gateway, trade=trade, source="query")
    if trade.state == TradeState.closed:
        await session.exec(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.pending.value)
            .values(status=PaymentStatus.failed.value)
        )
        return "closed"
    return "waiting"


async def reconcile(
    session: AsyncSession,
    *,
    gateways: dict[str, Gateway],
    older_than: timedelta = timedelta(minutes=2),
    expire_after: timedelta = timedelta(hours=2),
    now: datetime | None = None,
) -> dict[str, int]:
    """Ask the gateways about online payments whose notification never came."""
    now = now or utcnow()
    cutoff = now - older_than
    pending = list(
        await session.exec(
            select(Payment)
            .where(
                Payment.status == PaymentStatus.pending.value,
                Payment.created_at <= cutoff,
                col(Payment.method).in_(list(gateways)),
            )
            .order_by(Payment.id)
            .limit(1000)
        )
    )
    counts: dict[str, int] = {}
    for payment in pending:
        outcome = await _query_and_apply(session, gateway=gateways[payment.method], payment=payment)
        if outcome == "waiting" and as_utc(payment.created_at) < now - expire_after:
            await session.exec(
                update(Payment)
                .where(Payment.id == payment.id, Payment.status == PaymentStatus.pending.value)
                .values(status=PaymentStatus.failed.value)
            )
            outcome = "expired"
        counts[outcome] = counts.get(outcome, 0) + 1
    await session.flush()
    return counts


def _new_refund_no() -> str:
    return "RF" + utcnow().strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()


async def do_refund_payment(
    session: AsyncSession,
    *,
    actor: Actor,
    payment_id: int,
    amount_fen: int,
    reason: str,
    idempotency_key: str,
    gateway: Gateway | None = None,
) -> Refund:
    """Give money back. Cash and transfers are posted at once; an online payment is refunded through its
    gateway under a fresh out_refund_no and posted once, when the gateway confirms (its answer, its refund
    notification, or reconciliation's query)."""
    payment = await access_payment(session, actor=actor, payment_id=payment_id)
    await check_can_write(session, actor, payment.community_id)
    key = _check_key(idempotency_key)
    fingerprint = _fingerprint(payment=payment_id, amount=amount_fen, reason=reason.strip())
    existing = (
        await session.exec(
            select(Refund).where(Refund.created_by_id == actor.person_id, Refund.idempotency_key == key)
        )
    ).first()
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if not reason.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say why the money is refunded.", field="reason")
    check_text(reason, field="reason")
    payment = (
        await session.exec(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    asked = (
        await session.scalar(
            select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
                Refund.payment_id == payment.id, Refund.status == RefundStatus.pending.value
            )
        )
        or 0
    )
    refundable = payment.amount_fen - payment.refunded_fen - int(asked)
    if payment.status not in (PaymentStatus.paid.value,) or amount_fen <= 0 or amount_fen > refundable:
        raise LaoyouError(
            ErrorCode.INVALID,
            "The amount must be more than zero and no more than what was paid.",
            field="amountFen",
        )
    online = PaymentMethod(payment.method).is_online
    refund = Refund(
        payment_id=payment.id,
        community_id=payment.community_id,
        district_id=payment.district_id,
        amount_fen=amount_fen,
        reason=reason.strip()[:200],
        created_by_id=actor.person_id,
        idempotency_key=key,
        request_hash=fingerprint,
        out_refund_no=_new_refund_no(),
        status=RefundStatus.pending.value,
    )
    session.add(refund)
    await session.flush()
    if not online:
        await _confirm_refund(session, refund=refund, provider_refund_id="")
        return refund
    if gateway is None:
        from laoyou.billing.gateways.registry import gateways as registry

        gateway = registry().get(payment.method)
    if gateway is None:
        raise LaoyouError(ErrorCode.GATEWAY_ERROR, "The payment service did not answer. Please try again.")
    try:
        with unit_of_work(session):
            result = await gateway.create_refund(
                RefundRequest(
                    out_trade_no=payment.out_trade_no,
                    out_refund_no=refund.out_refund_no,
                    amount_fen=amount_fen,
                    total_fen=payment.amount_fen,
                    reason=refund.reason,
                    transaction_id=payment.transaction_id or "",
                )
            )
    except GatewayError as exc:
        # The request may or may not have reached the gateway: the refund stays pending under its number,
        # and reconciliation asks the gateway about it (the same number never refunds twice).
        log.warning("refund %s: %s", refund.out_refund_no, exc)
        return refund
    await record_refund_result(session, gateway=gateway, result=result, source="answer")
    await session.refresh(refund)
    return refund


async def record_refund_result(
    session: AsyncSession,
    *,
    gateway: Gateway,
    result: RefundResult,
    source: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> str:
    """The gateway's word on a refund (answer, notification or query): checked, and posted once on success.

    Returns applied, duplicate, waiting, failed or refused."""
    refund = (await session.exec(select(Refund).where(Refund.out_refund_no == result.out_refund_no))).first()
    payment = await session.get(Payment, refund.payment_id) if refund is not None else None
    reason = None
    if refund is None or payment is None or payment.method != gateway.name:
        reason = "unknown refund"
    elif result.merchant_id and result.merchant_id != gateway.merchant_id:
        reason = "merchant does not match"
    elif result.out_trade_no and result.out_trade_no != payment.out_trade_no:
        reason = "order does not match"
    elif result.state == RefundState.success and result.amount_fen != refund.amount_fen:
        reason = "amount does not match"
    if reason:
        if source == "notify":
            await _refuse(session, provider=gateway.name, reason=reason, headers=headers or {}, body=body)
        else:
            log.warning("refund %s refused (%s): %s", result.out_refund_no, source, reason)
        return "refused"
    if result.state == RefundState.success:
        applied = await _confirm_refund(session, refund=refund, provider_refund_id=result.refund_id)
        return "applied" if applied else "duplicate"
    if result.state in (RefundState.closed, RefundState.abnormal):
        done = await session.exec(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == RefundStatus.pending.value)
            .values(status=RefundStatus.failed.value, provider_refund_id=result.refund_id)
        )
        return "failed" if done.rowcount else "duplicate"
    return "waiting"


async def _confirm_refund(session: AsyncSession, *, refund: Refund, provider_refund_id: str) -> bool:
    """pending -> succeeded exactly once; then the bills reopen and the books post the refund."""
    done = await session.exec(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status == RefundStatus.pending.value)
        .values(
            status=RefundStatus.succeeded.value,
            confirmed_at=utcnow(),
            provider_refund_id=provider_refund_id[:64],
        )
    )
    if done.rowcount != 1:
        return False
    await session.refresh(refund)
    await _apply_refund(session, refund=refund)
    return True


async def _apply_refund(session: AsyncSession, *, refund: Refund) -> None:
    """First what was held unapplied, then the latest allocations; the bills reopen."""
    payment = (
        await session.exec(
            select(Payment)
            .where(Payment.id == refund.payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    amount_fen = refund.amount_fen
    from_unapplied = min(amount_fen, payment.unapplied_fen)
    remaining = amount_fen - from_unapplied
    reversed_total = 0
    allocations = list(
        await session.exec(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment.id)
            .order_by(col(PaymentAllocation.id).desc())
        )
    )
    net: dict[int, int] = {}
    for allocation in reversed(allocations):
        net[allocation.bill_id] = net.get(allocation.bill_id, 0) + allocation.amount_fen
    for bill_id in reversed(payment.bill_ids):
        if remaining <= 0:
            break
        share = min(remaining, net.get(bill_id, 0))
        if share <= 0:
            continue
        bill = await _lock_bill(session, bill_id)
        bill.paid_fen -= share
        restatus(bill)
        session.add(bill)
        session.add(
            PaymentAllocation(
                payment_id=payment.id,
                bill_id=bill_id,
                community_id=bill.community_id,
                district_id=bill.district_id,
                amount_fen=-share,
                refund_id=refund.id,
            )
        )
        remaining -= share
        reversed_total += share
    payment.unapplied_fen -= from_unapplied
    payment.applied_fen -= reversed_total
    payment.refunded_fen += amount_fen
    if payment.refunded_fen == payment.amount_fen:
        payment.status = PaymentStatus.refunded.value
    session.add(payment)
    await ledger.post(
        session,
        community_id=payment.community_id,
        district_id=payment.district_id,
        kind="refund",
        legs=[
            debit(PF, Account.advance_received, from_unapplied),
            debit(PF, Account.receivable, reversed_total),
            credit(PF, Account.cash, amount_fen),
        ],
        memo=refund.reason,
        ref_type="refund",
        ref_id=refund.id,
        created_by_id=refund.created_by_id,
    )
    await session.flush()
    announce(session, f"payment:{payment.id}", {"status": payment.status})


async def reconcile_refunds(
    session: AsyncSession,
    *,
    gateways: dict[str, Gateway],
    older_than: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
) -> dict[str, int]:
    """Ask the gateways about refunds whose confirmation never came."""
    cutoff = (now or utcnow()) - older_than
    rows = list(
        await session.exec(
            select(Refund, Payment)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Refund.status == RefundStatus.pending.value,
                Refund.created_at <= cutoff,
                col(Payment.method).in_(list(gateways)),
            )
            .order_by(Refund.id)
            .limit(1000)
        )
    )
    counts: dict[str, int] = {}
    for refund, payment in rows:
        gateway = gateways[payment.method]
        try:
            with unit_of_work(session):
                result = await gateway.query_refund(refund.out_refund_no, payment.out_trade_no)
        except GatewayError as exc:
            log.warning("refund query %s failed: %s", refund.out_refund_no, exc)
            outcome = "unreachable"
        else:
            outcome = await record_refund_result(session, gateway=gateway, result=result, source="query")
        counts[outcome] = counts.get(outcome, 0) + 1
    await session.flush()
    return counts


async def list_my_payments(
    session: AsyncSession, *, actor: Actor, first: int, after: int | None
) -> Page[Payment]:
    actor.require_login()
    households = actor.household_ids
    query = select(Payment).where(
        (Payment.payer_id == actor.person_id) | col(Payment.household_id).in_(households)
    )
    if after is not None:
        query = query.where(Payment.id < after)
    rows = list(await session.exec(query.order_by(col(Payment.id).desc()).limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


async def payment_bills(session: AsyncSession, payment: Payment) -> list[Bill]:
    found = await bills_by_ids(session, payment.bill_ids)
    return [found[i] for i in payment.bill_ids if i in found]


# --- books --------------------------------------------------------------------------------------------

INCOME_FUNDS = (Fund.public_income, Fund.maintenance_fund)


def _check_amount(amount_fen: int) -> None:
    if amount_fen <= 0 or amount_fen > 10_000_000_000:
        raise LaoyouError(ErrorCode.INVALID, "Enter an amount above zero.", field="amountFen")


async def do_record_income(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    fund: Fund,
    amount_fen: int,
    memo: str,
    attachment_ref: str = "",
) -> JournalEntry:
    """Public income (parking, advertising, rent) or a deposit into the special maintenance fund."""
    community = await _community(session, community_id)
    await check_can_write(session, actor, community_id)
    _check_amount(amount_fen)
    if fund not in INCOME_FUNDS:
        raise LaoyouError(
            ErrorCode.INVALID, "Income goes to public income or the maintenance fund.", field="fund"
        )
    if not memo.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say what the money is for.", field="memo")
    check_text(memo, field="memo")
    check_text(attachment_ref, field="attachmentRef")
    account = Account.income if fund == Fund.public_income else Account.fund_balance
    return await ledger.post(
        session,
        community_id=community_id,
        district_id=community.district_id,
        kind="income",
        legs=[debit(fund, Account.cash, amount_fen), credit(fund, account, amount_fen)],
        memo=memo.strip(),
        attachment_ref=attachment_ref.strip(),
        created_by_id=actor.person_id,
    )


async def do_record_expense(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    fund: Fund,
    amount_fen: int,
    memo: str,
    attachment_ref: str = "",
) -> JournalEntry:
    """Spend from one of this community's funds; never more than the fund holds, never another's money."""
    community = await _community(session, community_id)
    await check_can_write(session, actor, community_id)
    _check_amount(amount_fen)
    if not memo.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say what the money is for.", field="memo")
    check_text(memo, field="memo")
    check_text(attachment_ref, field="attachmentRef")
    held = await ledger.cash_balance(session, community_id, fund)
    if amount_fen > held:
        raise LaoyouError(
            ErrorCode.INSUFFICIENT_FUNDS,
            "This fund holds only %(held)s yuan; one community's money cannot pay for another's.",
            field="amountFen",
            held=yuan(held),
        )
    return await ledger.post(
        session,
        community_id=community_id,
        district_id=community.district_id,
        kind="expense",
        legs=[debit(fund, Account.expense, amount_fen), credit(fund, Account.cash, amount_fen)],
        memo=memo.strip(),
        attachment_ref=attachment_ref.strip(),
        created_by_id=actor.person_id,
    )


def apportion(amount_fen: int, weights: dict[int, int]) -> dict[int, int]:
    """Split exactly by weight (largest remainder, ties to the lower id): the shares sum to the amount."""
    total = sum(weights.values())
    if total <= 0:
        raise LaoyouError(ErrorCode.INVALID, "There is nothing to share the cost by.", field="key")
    shares = {k: amount_fen * w // total for k, w in weights.items()}
    left = amount_fen - sum(shares.values())
    by_remainder = sorted(weights, key=lambda k: (-(amount_fen * weights[k] % total), k))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares


async def do_apportion_shared_cost(
    session: AsyncSession, *, actor: Actor, district_id: int, amount_fen: int, key: str, memo: str
) -> list[JournalEntry]:
    """A shared district cost (a shared cleaner, the steward) as an expense in each community's own books,
    split by floor area or by households."""
    await estates.access_district(session, actor=actor, district_id=district_id)
    if not actor.is_admin and district_id not in {
        g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None
    }:
        raise PermissionDenied()
    _check_amount(amount_fen)
    if key not in ("floor_area", "households"):
        raise LaoyouError(ErrorCode.INVALID, "Share by floor area or by households.", field="key")
    if not memo.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say what the money is for.", field="memo")
    check_text(memo, field="memo")
    communities = list(await session.exec(select(Community.id).where(Community.district_id == district_id)))
    stats = await estates.community_stats(session, communities)
    weights = {
        cid: (s.floor_area_centi_m2 if key == "floor_area" else s.households) for cid, s in stats.items()
    }
    shares = apportion(amount_fen, weights)
    entries = []
    for cid in sorted(shares):
        share = shares[cid]
        entry = await ledger.post(
            session,
            community_id=cid,
            district_id=district_id,
            kind="apportion",
            legs=[debit(PF, Account.expense, share), credit(PF, Account.shared_cost_payable, share)],
            memo=f"{memo.strip()} ({key}: {weights[cid]}/{sum(weights.values())})",
            created_by_id=actor.person_id,
        )
        if entry:
            entries.append(entry)
    return entries


@dataclass
class FundBalance:
    fund: str
    cash_fen: int = 0
    accounts: dict[str, int] = field(default_factory=dict)


async def fund_balances(session: AsyncSession, *, actor: Actor, community_id: int) -> list[FundBalance]:
    await check_can_read_books(session, actor, community_id)
    found = await ledger.balances(session, [community_id])
    result = []
    for fund in Fund:
        accounts_ = {acc: value for (cid, f, acc), value in found.items() if f == fund.value}
        result.append(
            FundBalance(fund=fund.value, cash_fen=accounts_.get(Account.cash.value, 0), accounts=accounts_)
        )
    return result


async def ledger_lines(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    fund: str | None,
    first: int,
    after: int | None,
    expenses_only: bool = False,
    from_date: date | None = None,
    to_date: date | None = None,
) -> Page[tuple[JournalLine, JournalEntry]]:
    """Lines newest first; from_date and to_date (both included) are Asia/Shanghai days."""
    await check_can_read_books(session, actor, community_id)
    query = (
        select(JournalLine, JournalEntry)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.community_id == community_id)
    )
    if fund:
        query = query.where(JournalLine.fund == Fund(fund).value)
    if expenses_only:
        query = query.where(JournalLine.account == Account.expense.value)
    if from_date is not None:
        query = query.where(JournalEntry.created_at >= day_start(from_date))
    if to_date is not None:
        query = query.where(JournalEntry.created_at < day_start(to_date + timedelta(days=1)))
    if after is not None:
        query = query.where(JournalLine.id < after)
    rows = list(await session.exec(query.order_by(col(JournalLine.id).desc()).limit(first + 1)))
    page = Page(rows[:first], len(rows) > first)
    return page


@dataclass
class CollectionRate:
    """paid ÷ billed. Billed: bills of the period not cancelled and not trial statements, less what was waived;
    by count, a bill counts as collected when fully paid (a fully waived bill leaves the count)."""

    period: str
    billed_count: int = 0
    paid_count: int = 0
    billed_fen: int = 0
    paid_fen: int = 0

    @property
    def by_count_permille(self) -> int:
        return self.paid_count * 1000 // self.billed_count if self.billed_count else 0

    @property
    def by_amount_permille(self) -> int:
        return self.paid_fen * 1000 // self.billed_fen if self.billed_fen else 0


async def collection_rate(
    session: AsyncSession,
    *,
    actor: Actor,
    period: str,
    community_id: int | None = None,
    district_id: int | None = None,
) -> CollectionRate:
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()
    staff = await estates.staff_community_ids(session, actor)
    query = select(
        Bill.status,
        func.count(),
        func.coalesce(func.sum(Bill.amount_fen - Bill.waived_fen), 0),
        func.coalesce(func.sum(Bill.paid_fen), 0),
    ).where(
        Bill.period == period,
        col(Bill.status).notin_([BillStatus.cancelled.value, BillStatus.statement.value]),
    )
    if community_id is not None:
        if staff is not None and community_id not in staff:
            raise NotFound()
        query = query.where(Bill.community_id == community_id)
    elif district_id is not None:
        await estates.access_district(session, actor=actor, district_id=district_id)
        query = query.where(Bill.district_id == district_id)
    if staff is not None:
        query = query.where(col(Bill.community_id).in_(staff))
    rate = CollectionRate(period=period)
    for status, count, billed, paid in await session.exec(query.group_by(Bill.status)):
        if status == BillStatus.waived.value and int(billed) == int(paid):
            # Only the paid part of a waived bill was ever due.
            rate.billed_fen += int(billed)
            rate.paid_fen += int(paid)
            continue
        rate.billed_count += count
        rate.billed_fen += int(billed)
        rate.paid_fen += int(paid)
        if status == BillStatus.paid.value:
            rate.paid_count += count
    return rate


@dataclass
class BuildingArrears:
    building: Building
    households: int
    bills: int
    owed_fen: int


async def arrears_by_building(
    session: AsyncSession, *, actor: Actor, community_id: int
) -> list[BuildingArrears]:
    actor.require_login()
    staff = await estates.staff_community_ids(session, actor)
    if not actor.is_staff or (staff is not None and community_id not in staff):
        raise NotFound()
    rows = await session.exec(
        select(
            Building,
            func.count(func.distinct(Bill.household_id)),
            func.count(Bill.id),
            func.coalesce(func.sum(Bill.amount_fen - Bill.paid_fen - Bill.waived_fen), 0),
        )
        .join(Unit, Unit.building_id == Building.id)
        .join(Household, Household.unit_id == Unit.id)
        .join(Bill, Bill.household_id == Household.id)
        .where(
            Building.community_id == community_id,
            col(Bill.status).in_([BillStatus.open.value, BillStatus.partly_paid.value]),
        )
        .group_by(Building.id)
        .order_by(Building.id)
    )
    return [BuildingArrears(b, households, bills, int(owed)) for b, households, bills, owed in rows]


async def family_household_ids(session: AsyncSession, person_id: int) -> set[int]:
    rows = await session.exec(
        select(FamilyLink.household_id).where(
            FamilyLink.person_id == person_id, FamilyLink.status == FamilyLinkStatus.accepted.value
        )
    )
    return set(rows)


# --- invoice photos on the books ----------------------------------------------------------------------


async def do_attach_invoice(
    session: AsyncSession, *, actor: Actor, entry_id: int, media_id: int
) -> LedgerAttachment:
    """Link a stored photo of the invoice to an entry of the same community's books (writers only)."""
    entry = await session.get(JournalEntry, entry_id)
    if entry is None:
        raise NotFound()
    await check_can_write(session, actor, entry.community_id)
    stored = await session.get(MediaFile, media_id)
    # Only one's own upload: anyone else's would become visible to the books' readers by being attached.
    if (
        stored is None
        or stored.uploaded_by_id != actor.person_id
        or stored.community_id != entry.community_id
        or stored.kind != "image"
    ):
        raise NotFound()
    found = (
        await session.exec(
            select(LedgerAttachment).where(
                LedgerAttachment.entry_id == entry_id, LedgerAttachment.media_id == media_id
            )
        )
    ).first()
    if found is not None:
        return found
    link = LedgerAttachment(
        entry_id=entry_id, media_id=media_id, community_id=entry.community_id, district_id=entry.district_id
    )
    session.add(link)
    await session.flush()
    return link


async def ledger_attachments(
    session: AsyncSession, *, actor: Actor, community_id: int, entry_ids: list[int]
) -> dict[int, list[int]]:
    """The invoice photos (media ids) of these entries of one community's books, for those who read them."""
    await check_can_read_books(session, actor, community_id)
    result: dict[int, list[int]] = {}
    if not entry_ids:
        return result
    rows = await session.exec(
        select(LedgerAttachment.entry_id, LedgerAttachment.media_id)
        .where(
            LedgerAttachment.community_id == community_id,
            col(LedgerAttachment.entry_id).in_(sorted(set(entry_ids))),
        )
        .order_by(LedgerAttachment.id)
    )
    for entry_id, media_id in rows:
        result.setdefault(entry_id, []).append(media_id)
    return result


async def check_media_access(session: AsyncSession, actor: Actor, media_file: MediaFile) -> None:
    """A photo of an invoice on the books is seen only by those who may read that community's books
    (registered with media)."""
    link = (
        await session.exec(
            select(LedgerAttachment.community_id).where(LedgerAttachment.media_id == media_file.id).limit(1)
        )
    ).first()
    if link is not None:
        await check_can_read_books(session, actor, link)


if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)
