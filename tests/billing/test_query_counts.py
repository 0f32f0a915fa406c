"""Billing pages cost the same number of SQL statements for many rows as for few (DataLoaders, aggregates)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select

from laoyou.billing import service as billing
from laoyou.billing.jobs import run_bill_job
from laoyou.billing.models import Bill, PaymentMethod
from laoyou.estates.models import Building, Community, Household, Unit

from ..conftest import ADMIN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from ..graphql.conftest import StatementCounter, sql_statements  # noqa: F401 (the fixture)
from .helpers import actor_for


async def run(app: Any, client, name: str, **variables: Any) -> dict:  # noqa: ANN001
    """One of the PWA's persisted operations, as its pages run it."""
    result = await client(app.state.persisted[name].document, variables, operation_name=name)
    assert not result.get("errors"), result
    return result["data"]


async def bill_periods(app: Any, db, community_id: int, periods: list[str]) -> None:  # noqa: ANN001
    for period in periods:
        await run_bill_job(app.state.sessionmaker, community_id=community_id, period=period)
    await db.commit()


async def xiushan(db) -> Community:  # noqa: ANN001
    return (await db.exec(select(Community).where(Community.name == "秀山花园"))).one()


async def test_a_households_bills_cost_the_same_for_twelve_as_for_three(app, gql, db, sql_statements):  # noqa: F811
    # Given the demo resident's household with three bills of its own (the demo's months are cleared)
    community = await xiushan(db)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    household_id = (await resident("query { viewer { ownHouseholdIds } }"))["data"]["viewer"][
        "ownHouseholdIds"
    ][0]
    counts, sizes = {}, {}
    for label, periods in (
        ("few", [f"2032-{m:02d}" for m in (1, 2, 3)]),
        ("many", [f"2032-{m:02d}" for m in range(4, 13)]),
    ):
        await bill_periods(app, db, community.id, periods)
        # When the resident opens her bills, and the steward opens the household's bills
        counts[label, "mine"], mine = await sql_statements.during(run(app, resident, "MyBillsPage"))
        steward = await login_demo(gql, STEWARD_XIUSHAN)
        counts[label, "staff"], staff = await sql_statements.during(
            run(app, steward, "StaffHouseholdBills", householdId=household_id)
        )
        sizes[label] = len([b for b in staff["householdBills"]["nodes"] if b["period"].startswith("2032-")])
        sizes[label, "mine"] = len([b for b in mine["myBills"] if b["period"].startswith("2032-")])
    # Then three and twelve bills were shown, for the same number of statements
    assert (sizes["few"], sizes["many"]) == (3, 12) and (sizes["few", "mine"], sizes["many", "mine"]) == (
        3,
        12,
    )
    assert counts["few", "mine"] == counts["many", "mine"], sql_statements.statements
    assert counts["few", "staff"] == counts["many", "staff"], sql_statements.statements


async def add_buildings(db, community: Community, households: int, per_building: int = 10) -> None:  # noqa: ANN001
    """Buildings of ten households each, so arrears by building grows a row per building."""
    for start in range(0, households, per_building):
        building = Building(
            community_id=community.id,
            district_id=community.district_id,
            name=f"新{start // per_building + 1}号楼",
            floors=6,
        )
        db.add(building)
        await db.flush()
        await db.execute(
            insert(Unit),
            [
                {
                    "building_id": building.id,
                    "community_id": community.id,
                    "district_id": community.district_id,
                    "number": f"{i + 1:03d}室",
                    "floor": i // 2 + 1,
                    "floor_area_centi_m2": 5000 + 37 * i,
                }
                for i in range(min(per_building, households - start))
            ],
        )
        units = (await db.exec(select(Unit.id).where(Unit.building_id == building.id))).all()
        await db.execute(
            insert(Household),
            [
                {
                    "unit_id": u,
                    "community_id": community.id,
                    "district_id": community.district_id,
                    "head_name": f"户{u}",
                }
                for u in units
            ],
        )
    await db.commit()


async def test_staff_fee_pages_cost_the_same_for_200_households_as_for_20(app, gql, db, sql_statements):  # noqa: F811
    community = await xiushan(db)
    admin = await login_demo(gql, ADMIN)
    steward_actor = await actor_for(db, STEWARD_XIUSHAN)
    counts, shown = {}, {}
    for label, extra in (("20", 0), ("200", 180)):
        # Given Xiushan Garden billed for a period, some households paying cash at the office
        await add_buildings(db, community, extra)
        period = "2033-01" if label == "20" else "2033-02"
        await bill_periods(app, db, community.id, [period])
        bills = list(
            await db.exec(
                select(Bill)
                .where(Bill.community_id == community.id, Bill.period == period)
                .order_by(col(Bill.id))
            )
        )
        for bill in bills[::3]:
            await billing.do_record_office_payment(
                db,
                actor=steward_actor,
                bill_ids=[bill.id],
                method=PaymentMethod.cash,
                amount_fen=bill.amount_fen,
                office_receipt_no=f"R{bill.id}",
                idempotency_key=secrets.token_hex(8),
            )
        await db.commit()
        households = await db.scalar(
            select(billing.func.count()).select_from(Household).where(Household.community_id == community.id)
        )
        shown[label] = households
        # When the admin opens the fees page (arrears by building, collection rate) and the ledger
        counts[label, "fees"], page = await sql_statements.during(
            run(app, admin, "StaffBillingPage", communityId=str(community.id), period=period)
        )
        shown[label, "buildings"] = len(page["arrearsByBuilding"])
        counts[label, "ledger"], _ = await sql_statements.during(
            run(app, admin, "LedgerPage", communityId=str(community.id), first=100)
        )
    # Then 20 and 200 households cost the same number of statements
    assert (shown["20"], shown["200"]) == (20, 200) and shown["200", "buildings"] > shown["20", "buildings"]
    assert counts["20", "fees"] == counts["200", "fees"], sql_statements.statements
    assert counts["20", "ledger"] == counts["200", "ledger"], sql_statements.statements
