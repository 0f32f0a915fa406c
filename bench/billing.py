"""Billing benchmark: a bill run for many households, and payment notifications with duplicates.

    python bench/billing.py [--quick]

SQLite in a temporary directory (PostgreSQL when LAOYOU_DATABASE_URL is set). The floor for the bill run
is a raw executemany INSERT of the very same bill rows; `ratio:` is the bill run's rows per second divided
by the floor's.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from sqlalchemy import insert, select  # noqa: E402

from laoyou.accounts.models import Person  # noqa: E402
from laoyou.billing import service as billing  # noqa: E402
from laoyou.billing.gateways import lower_headers  # noqa: E402
from laoyou.billing.gateways.sandbox import SandboxGateway  # noqa: E402
from laoyou.billing.jobs import run_bill_job  # noqa: E402
from laoyou.billing.models import Bill, FeePlan, FeePlanItem, Payment  # noqa: E402
from laoyou.core.db import make_engine, make_sessionmaker  # noqa: E402
from laoyou.core.migrate import upgrade  # noqa: E402
from laoyou.core.settings import Settings  # noqa: E402
from laoyou.estates.models import Building, Community, District, Household, Unit  # noqa: E402


async def setup(maker, households: int) -> tuple[int, int]:  # noqa: ANN001
    rng = random.Random(1)
    async with maker() as session:
        district = District(
            name="bench", city="bench", operator_name="bench", operator_phone="+8613900000000"
        )
        session.add(district)
        await session.flush()
        community = Community(
            district_id=district.id, name="bench", address="bench", on_duty_phone="+8613900000000"
        )
        session.add(community)
        await session.flush()
        buildings = []
        for b in range(households // 500 + 1):
            building = Building(community_id=community.id, district_id=district.id, name=f"{b}号楼")
            session.add(building)
            buildings.append(building)
        await session.flush()
        await session.execute(
            insert(Unit),
            [
                {
                    "building_id": buildings[i // 500].id,
                    "community_id": community.id,
                    "district_id": district.id,
                    "number": f"{i}",
                    "floor": 1,
                    "floor_area_centi_m2": rng.randint(4500, 9500),
                }
                for i in range(households)
            ],
        )
        unit_ids = list((await session.execute(select(Unit.id).order_by(Unit.id))).scalars())
        await session.execute(
            insert(Household),
            [
                {
                    "unit_id": u,
                    "community_id": community.id,
                    "district_id": district.id,
                    "head_name": "x",
                    "created_at": billing.utcnow(),
                }
                for u in unit_ids
            ],
        )
        admin = Person(phone="+8613800000099", name="admin")
        session.add(admin)
        await session.flush()
        plan = FeePlan(
            district_id=district.id,
            community_id=community.id,
            scope_key=f"c:{community.id}",
            name="bench",
            phase="market",
            status="active",
            approved_by_id=admin.id,
            decision_ref="bench",
        )
        session.add(plan)
        await session.flush()
        session.add(FeePlanItem(plan_id=plan.id, name="物业服务费", kind="per_m2", unit_price_fen=80))
        session.add(FeePlanItem(plan_id=plan.id, name="公共照明", kind="per_household", unit_price_fen=300))
        await session.commit()
        return community.id, admin.id


async def bill_run(maker, community_id: int, period: str, batch: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    await run_bill_job(maker, community_id=community_id, period=period, batch_size=batch)
    return time.perf_counter() - start


async def raw_insert(maker, period: str, into: str) -> tuple[float, int]:  # noqa: ANN001
    """The floor: the very rows the run made, already computed, written with one executemany
    (under another period, so the unique household+period+plan constraint holds)."""
    async with maker() as session:
        rows = [
            dict(r._mapping)
            for r in await session.execute(select(Bill.__table__).where(Bill.period == period))
        ]
    for row in rows:
        row.pop("id")
        row["period"] = into
    start = time.perf_counter()
    async with maker() as session:
        await session.execute(insert(Bill.__table__), rows)
        await session.commit()
    return time.perf_counter() - start, len(rows)


async def notifications(maker, community_id: int, payer_id: int, count: int) -> tuple[float, int, int]:  # noqa: ANN001
    """count notifications, 30% of them duplicates, for count*0.7 pending sandbox payments."""
    sandbox = SandboxGateway()
    unique = int(count * 0.7)
    async with maker() as session:
        bills = list(
            (
                await session.execute(
                    select(Bill.id, Bill.household_id, Bill.amount_fen)
                    .where(Bill.community_id == community_id)
                    .limit(unique)
                )
            ).all()
        )
        rows = []
        for bill_id, household_id, amount in bills:
            number = "LY" + secrets.token_hex(10).upper()
            rows.append(
                {
                    "household_id": household_id,
                    "community_id": community_id,
                    "district_id": 1,
                    "payer_id": payer_id,
                    "method": "sandbox",
                    "amount_fen": amount,
                    "status": "pending",
                    "out_trade_no": number,
                    "receipt_number": "R" + number,
                    "idempotency_key": number,
                    "request_hash": "x",
                    "bill_ids": [bill_id],
                    "created_at": billing.utcnow(),
                    "applied_fen": 0,
                    "unapplied_fen": 0,
                    "refunded_fen": 0,
                    "office_receipt_no": "",
                    "pay_url": "",
                }
            )
        await session.execute(insert(Payment), rows)
        await session.commit()
    from laoyou.billing.gateways.sandbox import SandboxOrder

    orders = []
    for row in rows:
        sandbox.server.orders[row["out_trade_no"]] = SandboxOrder(
            row["out_trade_no"], row["amount_fen"], "bench"
        )
        orders.append(sandbox.server.pay(row["out_trade_no"]))
    rng = random.Random(2)
    orders += rng.sample(orders, count - len(orders))  # the duplicates (WeChat Pay sends again, signed anew)
    rng.shuffle(orders)
    start = time.perf_counter()
    applied = 0
    for order in orders:
        # Made and signed when it is delivered, as WeChat Pay does: the 5-minute window holds however long
        # the run takes. Encrypting and signing is the provider's work, but it is inside the timing (small).
        delivery = sandbox.server.notification(order)
        async with maker() as session:
            _, outcome = await billing.do_receive_notification(
                session, gateway=sandbox, headers=lower_headers(delivery.headers), body=delivery.body
            )
            await session.commit()
            applied += outcome == "applied"
    return time.perf_counter() - start, len(orders), applied


async def main() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    quick = "--quick" in sys.argv
    households = 10_000 if quick else 100_000
    notices = 1_000 if quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            mode="dev", data_dir=Path(tmp), database_url=os.environ.get("LAOYOU_DATABASE_URL", "")
        )
        engine = make_engine(settings)
        await upgrade(engine)
        maker = make_sessionmaker(engine)
        community_id, admin_id = await setup(maker, households)
        backend = engine.dialect.name
        seconds = await bill_run(maker, community_id, "2030-01", batch=2000)
        print(f"backend: {backend}")
        print(f"bill_run_households: {households} rows")
        print(f"bill_run_seconds: {seconds:.3f} s")
        print(f"bill_run_rows_per_second: {households / seconds:.0f} rows/s")
        again = await bill_run(maker, community_id, "2030-01", batch=2000)
        print(f"bill_run_repeat_seconds: {again:.3f} s (creates nothing)")
        raw_seconds, rows = await raw_insert(maker, "2030-01", "2030-02")
        n_seconds, n, applied = await notifications(maker, community_id, admin_id, notices)
        print(f"notifications: {n} (30% duplicates), applied {applied}")
        print(f"notification_seconds: {n_seconds:.3f} s")
        print(f"notifications_per_second: {n / n_seconds:.0f} /s")
        print(f"raw_insert_seconds: {raw_seconds:.3f} s")
        print(f"raw_insert_rows_per_second: {rows / raw_seconds:.0f} rows/s")
        await engine.dispose()
        print(f"ratio: {(households / seconds) / (rows / raw_seconds):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
