"""Demo fee plans, three months of bills, a history of payments and some entries in the books."""

from __future__ import annotations

import random
from datetime import date, datetime

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.billing import ledger
from laoyou.billing import service as billing
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import (
    Account,
    Bill,
    BillStatus,
    FeePlan,
    Fund,
    ItemKind,
    PackageAdoption,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    PaymentStatus,
    Phase,
    PlanStatus,
)
from laoyou.core.time import SHANGHAI, utcnow
from laoyou.estates.models import Community, District

ADMIN_PHONE = "+8613800000099"
DEMO_RESIDENT_PHONE = "+8613800000001"


def demo_periods(today: date, count: int = 3) -> list[str]:
    """This month and the months before it, oldest first."""
    periods = []
    year, month = today.year, today.month
    for _ in range(count):
        periods.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return periods[::-1]


async def _plan(
    session: AsyncSession,
    *,
    district_id: int,
    community_id: int | None,
    name: str,
    phase: Phase,
    items: list[tuple[str, str, ItemKind, int]],
    approver_id: int,
    decision: str,
) -> FeePlan:
    scope = f"c:{community_id}" if community_id else f"d:{district_id}"
    plan = FeePlan(
        district_id=district_id,
        community_id=community_id,
        scope_key=scope,
        version=1,
        name=name,
        phase=phase.value,
        status=PlanStatus.active.value,
        approved_by_id=approver_id,
        approved_at=utcnow(),
        decision_ref=decision,
        created_by_id=approver_id,
    )
    session.add(plan)
    await session.flush()
    from laoyou.billing.models import FeePlanItem

    for package, item_name, kind, price in items:
        session.add(
            FeePlanItem(
                plan_id=plan.id, package=package, name=item_name, kind=kind.value, unit_price_fen=price
            )
        )
    await session.flush()
    return plan


async def load_billing_demo(session: AsyncSession) -> None:
    rng = random.Random(3)
    admin = (await session.exec(select(Person).where(Person.phone == ADMIN_PHONE))).one()
    districts = {d.name: d for d in await session.exec(select(District))}
    communities = {c.name: c for c in await session.exec(select(Community))}
    zhujiajiao = next(d for name, d in districts.items() if name.startswith("朱家角"))
    # The joint tender: one plan for the whole package; 新风新村 adopts the greening add-on.
    district_plan = await _plan(
        session,
        district_id=zhujiajiao.id,
        community_id=None,
        name="朱家角联合招标物业服务（成本价）",
        phase=Phase.cost,
        approver_id=admin.id,
        decision="朱家角镇联合招标包业主表决结果公告 2026-01",
        items=[
            ("base", "物业服务费", ItemKind.per_m2, 65),
            ("base", "垃圾清运", ItemKind.per_household, 500),
            ("绿化养护", "绿化养护", ItemKind.per_m2, 10),
        ],
    )
    xinfeng = communities["新风新村"]
    session.add(
        PackageAdoption(
            community_id=xinfeng.id,
            district_id=zhujiajiao.id,
            plan_id=district_plan.id,
            package="绿化养护",
            decision_ref="新风新村业主大会决定 2026-02",
        )
    )
    xiushan = communities["秀山花园"]
    await _plan(
        session,
        district_id=xiushan.district_id,
        community_id=xiushan.id,
        name="秀山花园物业服务（市场价）",
        phase=Phase.market,
        approver_id=admin.id,
        decision="秀山花园业主大会决议 2026-03",
        items=[
            ("base", "物业服务费", ItemKind.per_m2, 80),
            ("base", "公共照明", ItemKind.per_household, 300),
        ],
    )
    yueyang, jingju = communities["岳阳花苑"], communities["京剧院小区"]
    await _plan(
        session,
        district_id=yueyang.district_id,
        community_id=yueyang.id,
        name="岳阳花苑物业服务",
        phase=Phase.cost,
        approver_id=admin.id,
        decision="岳阳花苑业主大会决议 2025-12",
        items=[("base", "物业服务费", ItemKind.per_m2, 95)],
    )
    # The micro-community tries the neighbour's service first (先尝后买): statements, nothing to pay.
    await _plan(
        session,
        district_id=jingju.district_id,
        community_id=jingju.id,
        name="京剧院小区试运行（先尝后买）",
        phase=Phase.trial,
        approver_id=admin.id,
        decision="居委会代行决定 2026-04",
        items=[("base", "物业服务费", ItemKind.per_m2, 95)],
    )
    await session.flush()

    periods = demo_periods(utcnow().astimezone(SHANGHAI).date())
    for community in communities.values():
        for period in periods:
            run = await billing.do_start_bill_run(
                session, actor=None, community_id=community.id, period=period
            )
            while await billing.do_bill_run_step(session, run=run, batch_size=1000):
                pass

    # Payment history: most households paid the older months in cash at the office; the demo resident
    # paid the oldest month and has the last two to pay.
    demo_household = (
        await session.exec(
            select(RoleGrant.household_id)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(Person.phone == DEMO_RESIDENT_PHONE, RoleGrant.role == Role.resident.value)
        )
    ).first()
    steward_of: dict[int, int] = {}
    for grant in await session.exec(select(RoleGrant).where(RoleGrant.role == Role.steward.value)):
        for community in communities.values():
            if grant.community_id == community.id or (
                grant.community_id is None and grant.district_id == community.district_id
            ):
                steward_of.setdefault(community.id, grant.person_id)
    now = utcnow()
    paid_periods = {periods[0]: 0.85, periods[1]: 0.6}
    bills = list(
        await session.exec(
            select(Bill)
            .where(col(Bill.period).in_(list(paid_periods)), Bill.status == BillStatus.open.value)
            .order_by(Bill.id)
        )
    )
    chosen = [
        b
        for b in bills
        if (b.household_id == demo_household and b.period == periods[0])
        or (b.household_id != demo_household and rng.random() < paid_periods[b.period])
    ]
    if not chosen:
        return
    await pay_in_cash(session, chosen, payer_of=steward_of, fallback=admin.id, when=now)
    # Public income and the maintenance fund of Xiushan Garden, and a shared district cost.
    for fund, account, amount, memo in (
        (Fund.public_income, Account.income, 360000, "停车位租金 一季度"),
        (Fund.public_income, Account.income, 120000, "电梯广告位"),
        (Fund.maintenance_fund, Account.fund_balance, 5000000, "专项维修资金 首期归集"),
    ):
        await ledger.post(
            session,
            community_id=xiushan.id,
            district_id=xiushan.district_id,
            kind="income",
            legs=[debit(fund, Account.cash, amount), credit(fund, account, amount)],
            memo=memo,
        )
    await ledger.post(
        session,
        community_id=xiushan.id,
        district_id=xiushan.district_id,
        kind="expense",
        legs=[
            debit(Fund.public_income, Account.expense, 80000),
            credit(Fund.public_income, Account.cash, 80000),
        ],
        memo="儿童游乐设施维修",
    )
    from laoyou.estates import service as estates

    district_communities = [c.id for c in communities.values() if c.district_id == zhujiajiao.id]
    stats = await estates.community_stats(session, district_communities)
    shares = billing.apportion(1200000, {cid: s.floor_area_centi_m2 for cid, s in stats.items()})
    for cid, share in sorted(shares.items()):
        await ledger.post(
            session,
            community_id=cid,
            district_id=zhujiajiao.id,
            kind="apportion",
            legs=[
                debit(Fund.property_fee, Account.expense, share),
                credit(Fund.property_fee, Account.shared_cost_payable, share),
            ],
            memo="片区共享保洁员工资 按建筑面积分摊",
        )
    await session.flush()


async def pay_in_cash(
    session: AsyncSession, chosen: list, *, payer_of: dict[int, int], fallback: int, when: datetime
) -> None:
    """Demo history: these bills paid in full in cash at the office (the payer is the community's steward),
    posted to each community's books in one entry."""
    payments = [
        {
            "household_id": b.household_id,
            "community_id": b.community_id,
            "district_id": b.district_id,
            "payer_id": payer_of.get(b.community_id, fallback),
            "method": PaymentMethod.cash.value,
            "amount_fen": b.amount_fen,
            "applied_fen": b.amount_fen,
            "unapplied_fen": 0,
            "refunded_fen": 0,
            "status": PaymentStatus.paid.value,
            "out_trade_no": f"LYDEMO{b.id:010d}",
            "receipt_number": f"RDEMO{b.community_id:04d}{b.id:08d}",
            "office_receipt_no": f"SJ{b.id:06d}",
            "pay_url": "",
            "idempotency_key": f"demo-{b.id}",
            "request_hash": "demo",
            "bill_ids": [b.id],
            "created_at": when,
            "paid_at": when,
        }
        for b in chosen
    ]
    await session.execute(insert(Payment.__table__), payments)
    ids = dict(
        list(
            await session.exec(
                select(Payment.out_trade_no, Payment.id).where(col(Payment.out_trade_no).like("LYDEMO%"))
            )
        )
    )
    await session.execute(
        insert(PaymentAllocation.__table__),
        [
            {
                "payment_id": ids[f"LYDEMO{b.id:010d}"],
                "bill_id": b.id,
                "community_id": b.community_id,
                "district_id": b.district_id,
                "amount_fen": b.amount_fen,
                "created_at": when,
            }
            for b in chosen
        ],
    )
    paid = [b.id for b in chosen]
    for start in range(
        0, len(paid), 10_000
    ):  # PostgreSQL's driver takes at most 32,767 arguments a statement
        await session.execute(
            update(Bill.__table__)
            .where(Bill.__table__.c.id.in_(paid[start : start + 10_000]))
            .values(paid_fen=Bill.__table__.c.amount_fen, status=BillStatus.paid.value)
        )
    totals: dict[tuple[int, int], int] = {}
    for b in chosen:
        totals[(b.community_id, b.district_id)] = (
            totals.get((b.community_id, b.district_id), 0) + b.amount_fen
        )
    for (community_id, district_id), total in sorted(totals.items()):
        await ledger.post(
            session,
            community_id=community_id,
            district_id=district_id,
            kind="payment",
            legs=[
                debit(Fund.property_fee, Account.cash, total),
                credit(Fund.property_fee, Account.receivable, total),
            ],
            memo="物业服务中心收取现金",
        )
