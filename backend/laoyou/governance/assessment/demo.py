"""A year of history for the assessment dashboard in 秀山花园 and the Zhujiajiao district (the communities whose
officials log in to the demo): finished work orders with their handling times, ratings and return visits,
complaints and their outcomes, and the quarterly survey's answers. The demo residents' own homes are left to
answer this quarter's survey themselves."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.billing import ledger
from laoyou.billing.demo import pay_in_cash
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import Account, Bill, BillStatus, Fund
from laoyou.core.time import day_start, local_date, utcnow
from laoyou.estates.models import Community, District, Household
from laoyou.governance.assessment.models import SurveyAnswer
from laoyou.governance.assessment.service import months_back, quarter_of
from laoyou.tickets.models import Kind, Status, WorkOrder

DEMO_PHONES = "+86138000000%"  # the demo people's numbers: their homes keep this quarter's survey open
CATEGORIES = ("water", "water", "sewer", "lighting", "door_lock", "lift", "cleanliness", "greenery", "other")


async def load_assessment_demo(session: AsyncSession) -> None:
    rng = random.Random(17)
    now = utcnow()
    zhujiajiao = (
        await session.exec(select(District.id).where(col(District.name).startswith("朱家角")))
    ).first()
    communities = [
        c
        for c in await session.exec(select(Community).order_by(Community.id))
        if c.name == "秀山花园" or c.district_id == zhujiajiao
    ]
    creator = (
        await session.exec(select(RoleGrant.person_id).where(RoleGrant.role == Role.admin.value))
    ).first()
    if not communities or creator is None:
        return
    ids = [c.id for c in communities]
    months = months_back(local_date(now), 13)
    # The households were there before the year shown began.
    await session.execute(
        update(Household)
        .where(col(Household.community_id).in_(ids))
        .values(created_at=day_start(months[0]) - timedelta(days=30))
    )
    orders = []
    for community in communities:
        for month in months:
            for _n in range(rng.randint(4, 9)):
                created = day_start(month) + timedelta(days=rng.randint(0, 27), hours=rng.randint(0, 11))
                handling = timedelta(
                    minutes=rng.choice((45, 90, 180, 300, 600, 1440, 2880)) + rng.randint(0, 60)
                )
                if created + handling + timedelta(days=2) > now:
                    continue
                done = created + handling
                complaint = rng.random() < 0.15
                outcome = rng.random()
                kind, category = (
                    (Kind.complaint, "noise") if complaint else (Kind.repair, rng.choice(CATEGORIES))
                )
                if complaint and outcome < 0.15:
                    status, done = Status.cancelled, None
                else:
                    status = Status.confirmed if rng.random() < 0.6 else Status.closed
                rating = rng.choice((5, 5, 5, 4, 4, 3, 2)) if done and status == Status.confirmed else None
                orders.append(
                    {
                        "community_id": community.id,
                        "district_id": community.district_id,
                        "kind": kind.value,
                        "category": category,
                        "status": status.value,
                        "is_open": False,
                        "place": "common",
                        "source": "phone",
                        "created_by_id": creator,
                        "client_id": f"demo-history-{len(orders)}",
                        "created_at": created,
                        "updated_at": done or created,
                        "response_due_at": created + timedelta(hours=1),
                        "completion_due_at": created + timedelta(days=2),
                        "responded_at": created + timedelta(minutes=20) if done else None,
                        "done_at": done,
                        "closed_at": done,
                        "rating": rating,
                        "return_visit_done_at": done + timedelta(days=1) if rating and rating <= 3 else None,
                    }
                )
    # Rows, not objects: a thousand of them, written in one statement.
    await session.execute(insert(WorkOrder.__table__), orders)
    demo_homes = set(
        await session.exec(
            select(RoleGrant.household_id)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(col(Person.phone).like(DEMO_PHONES))
        )
    )
    await _bills(session, rng, ids, months[:-3], demo_homes, creator, now)
    await _survey(session, rng, ids, months, demo_homes, now)
    await session.flush()


async def _bills(
    session: AsyncSession,
    rng: random.Random,
    ids: list[int],
    months: list,
    demo_homes: set,
    payer: int,
    now,  # noqa: ANN001
) -> None:
    """The months before the billing demo's three, billed as its oldest month was (one statement per month,
    posted to the books as a bill run posts them), and paid by more households each month (the demo people's
    homes owe nothing from then)."""
    first = months[-1].replace(day=28) + timedelta(days=4)  # the billing demo's oldest month
    template = list(
        await session.exec(
            select(
                Bill.household_id,
                Bill.community_id,
                Bill.district_id,
                Bill.plan_id,
                Bill.floor_area_centi_m2,
                Bill.amount_fen,
                Bill.would_be_fen,
                Bill.lines,
            ).where(
                col(Bill.community_id).in_(ids),
                Bill.period == f"{first:%Y-%m}",
                Bill.status != BillStatus.statement.value,
                Bill.amount_fen > 0,
            )
        )
    )
    for month in months:
        end = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        rows = [
            {
                **row._asdict(),
                "period": f"{month:%Y-%m}",
                "period_start": month,
                "period_end": end,
                "due_date": end,
                "status": BillStatus.open.value,
                "created_at": day_start(month),
            }
            for row in template
        ]
        if rows:
            await session.execute(insert(Bill.__table__), rows)
        totals: dict[tuple[int, int], int] = {}
        for row in template:
            key = (row.community_id, row.district_id)
            totals[key] = totals.get(key, 0) + row.amount_fen
        for (community_id, district_id), total in sorted(totals.items()):
            await ledger.post(
                session,
                community_id=community_id,
                district_id=district_id,
                kind="bills",
                legs=[
                    debit(Fund.property_fee, Account.receivable, total),
                    credit(Fund.property_fee, Account.fee_income, total),
                ],
                memo=f"bills {month:%Y-%m}",
            )
    periods = {f"{m:%Y-%m}": 0.55 + 0.035 * i for i, m in enumerate(months)}
    bills = await session.exec(
        # The columns a payment needs, not whole bills: thousands of them.
        select(Bill.id, Bill.household_id, Bill.community_id, Bill.district_id, Bill.amount_fen, Bill.period)
        .where(
            col(Bill.community_id).in_(ids),
            col(Bill.period).in_(list(periods)),
            Bill.status == BillStatus.open.value,
        )
        .order_by(Bill.id)
    )
    chosen = [b for b in bills if b.household_id in demo_homes or rng.random() < periods[b.period]]
    if chosen:
        await pay_in_cash(session, chosen, payer_of={}, fallback=payer, when=now)


async def _survey(
    session: AsyncSession,
    rng: random.Random,
    ids: list[int],
    months: list,
    demo_homes: set,
    now,  # noqa: ANN001
) -> None:
    """Four quarters of answers, more satisfied as the year went on; the demo people's homes are left out of
    this quarter's, so the survey card waits for them."""
    residents = {}
    for household_id, person_id, community_id, district_id in await session.exec(
        select(RoleGrant.household_id, RoleGrant.person_id, Household.community_id, Household.district_id)
        .join(Household, Household.id == RoleGrant.household_id)
        .where(RoleGrant.role == Role.resident.value, col(Household.community_id).in_(ids))
        .order_by(RoleGrant.id)
    ):
        residents.setdefault(household_id, (person_id, community_id, district_id))
    this_quarter = quarter_of(now)
    quarters = {}
    for month in months:
        answered = day_start(month) + timedelta(days=rng.randint(0, 20), hours=3)
        if answered < now:
            quarters[quarter_of(answered)] = answered
    answers = []
    for index, (quarter, when) in enumerate(sorted(quarters.items())[-4:]):
        satisfied = 0.6 + 0.08 * index
        for household_id, (person_id, community_id, district_id) in residents.items():
            if rng.random() > 0.45 or (quarter == this_quarter and household_id in demo_homes):
                continue
            draw = rng.random()
            answers.append(
                {
                    "household_id": household_id,
                    "community_id": community_id,
                    "district_id": district_id,
                    "person_id": person_id,
                    "quarter": quarter,
                    "score": 3 if draw < satisfied else 2 if draw < satisfied + 0.25 else 1,
                    "created_at": when,
                }
            )
    if answers:
        await session.execute(insert(SurveyAnswer.__table__), answers)
