"""Bills: who sees them, waivers and cancellations, overdue reminders, and the collection figures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role, RoleGrant
from laoyou.billing import ledger
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import Account, Bill, BillStatus
from laoyou.billing.money import yuan
from laoyou.billing.service.common import PF, check_can_write
from laoyou.core import i18n, jobs
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.pagination import Page
from laoyou.core.text import check_text
from laoyou.core.time import day_start, local_date, utcnow
from laoyou.estates import onboarding
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Household, Unit


@onboarding.household_archive_check
async def check_household_settled(session: AsyncSession, household: Household) -> None:
    """A household with money still owed is not archived: the bill would drop out of every list and reminder."""
    unpaid = await session.exec(
        select(Bill.id).where(
            Bill.household_id == household.id,
            col(Bill.status).in_((BillStatus.open.value, BillStatus.partly_paid.value)),
        )
    )
    if unpaid.first() is not None:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "This household has unpaid bills. Please settle or waive them first."
        )


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


def is_overdue(bill: Bill, now: datetime | None = None) -> bool:
    """Something is still owed after the due date (an Asia/Shanghai day); do_remind_overdue asks the same of
    the database."""
    return bill.outstanding_fen > 0 and bill.due_date < local_date(now or utcnow())


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
    # Newest month first: bills of older months can be made after newer ones (a backfill), so ids are no order.
    query = query.order_by(col(Bill.period_start).desc(), col(Bill.id).desc())
    return list(await session.exec(query.limit(first)))


def amounts_due(bills: list[Bill]) -> dict[int, int]:
    """What is still owed on these bills, per household (households owing nothing are left out)."""
    due: dict[int, int] = {}
    for bill in bills:
        if bill.outstanding_fen:
            due[bill.household_id] = due.get(bill.household_id, 0) + bill.outstanding_fen
    return due


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
    bill = await lock_bill(session, bill.id)
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
    bill = await lock_bill(session, bill.id)
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


async def lock_bill(session: AsyncSession, bill_id: int) -> Bill:
    """The bill, locked for this transaction and read afresh (payments, refunds and waivers change it)."""
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
    (a second run the same day reminds nobody; the next day the bill is reminded again while it is owed).
    The bills are claimed (core.jobs.claim) before anyone is told, so however many workers run this, each
    bill is reminded once."""
    now = now or utcnow()
    today = local_date(now)
    start_of_today = day_start(today)
    still_due = (
        col(Bill.status).in_([BillStatus.open.value, BillStatus.partly_paid.value]),
        Bill.due_date < today,
        col(Bill.reminded_at).is_(None) | (Bill.reminded_at < start_of_today),
    )
    bills = list(await session.exec(jobs.due(select(Bill).where(*still_due).order_by(Bill.id).limit(limit))))
    claimed = set(await jobs.claim(session, Bill, [b.id for b in bills], *still_due, reminded_at=now))
    bills = [b for b in bills if b.id in claimed]
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
    await session.flush()
    return len(bills)


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


@dataclass
class MonthBilling:
    """One community's month for the assessment: households, those covered by a plan (billed, or sent a trial
    statement, for a period overlapping the month), and what was billed and paid for periods starting in it."""

    households: int = 0
    covered: int = 0
    billed_fen: int = 0
    paid_fen: int = 0


async def billing_by_month(
    session: AsyncSession, *, actor: Actor, community_ids: list[int], months: list[date]
) -> dict[tuple[int, date], MonthBilling]:
    """Keyed by (community, first day of the month), for the communities of these the actor sees as staff.
    A household counts for a month when it was live at the month's end (Shanghai)."""
    actor.require_login()
    staff = await estates.staff_community_ids(session, actor)
    if not actor.is_staff:
        raise PermissionDenied()
    ids = [c for c in community_ids if staff is None or c in staff]
    result = {(c, m): MonthBilling() for c in ids for m in months}
    if not ids or not months:
        return result
    ends = {m: _next_month(m) for m in months}
    for month, end in ends.items():
        moment = day_start(end)
        rows = await session.exec(
            select(Household.community_id, func.count())
            .where(
                col(Household.community_id).in_(ids),
                Household.created_at < moment,
                or_(col(Household.archived_at).is_(None), col(Household.archived_at) >= moment),
            )
            .group_by(Household.community_id)
        )
        for community_id, count in rows:
            result[(community_id, month)].households = count
    window = (min(months), max(ends.values()))
    live = (
        col(Bill.community_id).in_(ids),
        Bill.status != BillStatus.cancelled.value,
        Bill.period_start < window[1],
        Bill.period_end >= window[0],
    )
    covered = await session.exec(
        select(
            Bill.community_id,
            Bill.period_start,
            Bill.period_end,
            func.count(func.distinct(Bill.household_id)),
        )
        .where(*live)
        .group_by(Bill.community_id, Bill.period_start, Bill.period_end)
    )
    for community_id, start, end, count in covered:
        for month in months:
            if start < ends[month] and end >= month:
                cell = result[(community_id, month)]
                cell.covered = min(cell.households, cell.covered + count)
    money = await session.exec(
        select(
            Bill.community_id,
            Bill.period_start,
            Bill.status,
            func.coalesce(func.sum(Bill.amount_fen - Bill.waived_fen), 0),
            func.coalesce(func.sum(Bill.paid_fen), 0),
        )
        .where(*live, Bill.status != BillStatus.statement.value)
        .group_by(Bill.community_id, Bill.period_start, Bill.status)
    )
    for community_id, start, _status, billed, paid in money:
        month = start.replace(day=1)
        if (community_id, month) in result:
            result[(community_id, month)].billed_fen += int(billed)
            result[(community_id, month)].paid_fen += int(paid)
    return result


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)
