"""A district's bill run: started once for every community of the district, resumable like a community's, each
community billed once, and only for the district's stewards and the admin."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func
from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.models import Bill, BillRun
from laoyou.demo.data import NANNING, ZHUJIAJIAO
from laoyou.estates.models import Community, District, Household

from ..conftest import (
    ADMIN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)
from ..web.conftest import csrf_in, log_in
from .helpers import actor_for, check_books

PERIOD = "2030-03"
RUN = """
mutation ($d: ID!, $p: String!) {
  runDistrictBills(districtId: $d, period: $p) {
    __typename
    ... on DistrictBillRunProgress {
      districtRun { period finished communities { community { name } problem run { total processed created finished } } }
    }
    ... on Error { field message code }
  }
}
"""
STANDING = """
query ($d: ID!, $p: String!) {
  districtBillRun(districtId: $d, period: $p) { finished communities { community { name } problem run { processed } } }
}
"""


async def district_id(db, name: str = ZHUJIAJIAO) -> int:  # noqa: ANN001
    return (await db.exec(select(District.id).where(District.name == name))).one()


async def households_of(db, community_id: int) -> int:  # noqa: ANN001
    return await db.scalar(
        select(func.count()).select_from(Household).where(Household.community_id == community_id)
    )


async def bills_of(db, period: str = PERIOD) -> dict[int, int]:  # noqa: ANN001
    rows = await db.exec(
        select(Bill.community_id, func.count()).where(Bill.period == period).group_by(Bill.community_id)
    )
    return dict(rows.all())


async def runs_count(db) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(BillRun))


async def test_a_district_steward_bills_every_community_once(db):
    # Given the district steward of the Zhujiajiao joint tender
    steward = await actor_for(db, STEWARD_ZHUJIAJIAO)
    district = await district_id(db)
    communities = list(await db.exec(select(Community).where(Community.district_id == district)))
    # When the steward runs the district's bills for a new month
    lines = await billing.do_run_district_bills(db, actor=steward, district_id=district, period=PERIOD)
    # Then every community with a fee plan is billed, one bill per household, and the others say why not
    assert {line.community.id for line in lines} == {c.id for c in communities if c.archived_at is None}
    billed = await bills_of(db)
    assert any(line.run for line in lines)
    for line in lines:
        if line.run is None:
            assert line.problem.message == "This community has no active fee plan."
            assert line.community.id not in billed
            continue
        assert line.run.finished_at is not None
        assert billed[line.community.id] == line.run.created == await households_of(db, line.community.id)
    # And pressing it again bills nobody twice
    again = await billing.do_run_district_bills(db, actor=steward, district_id=district, period=PERIOD)
    assert await bills_of(db) == billed
    assert [line.run.id for line in again if line.run] == [line.run.id for line in lines if line.run]
    await check_books(db)


async def test_a_large_district_is_billed_over_several_presses_each_going_on_where_the_last_stopped(db):
    steward = await actor_for(db, STEWARD_ZHUJIAJIAO)
    district = await district_id(db)
    # When each press may bill only 2 households
    presses = []
    for _ in range(200):
        lines = await billing.do_run_district_bills(
            db, actor=steward, district_id=district, period=PERIOD, max_households=2, batch_size=2
        )
        presses.append(sum(line.run.processed for line in lines if line.run))
        if all(line.run is None or line.run.finished_at is not None for line in lines):
            break
    # Then every press went further than the one before, and in the end each household has one bill
    assert len(presses) > 2 and presses == sorted(presses) and len(set(presses)) >= len(presses) - 1
    billed = await bills_of(db)
    for line in lines:
        if line.run is not None:
            assert billed[line.community.id] == await households_of(db, line.community.id)
    await check_books(db)


async def test_the_run_over_graphql_reports_each_community_and_a_bad_period_changes_nothing(gql, db):
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    district = str(await district_id(db))
    before = await runs_count(db)
    wrong = (await steward(RUN, {"d": district, "p": "2030-13"}))["data"]["runDistrictBills"]
    assert wrong["__typename"] == "RunDistrictBillsError" and wrong["field"] == "period"
    assert await runs_count(db) == before
    standing = (await steward(STANDING, {"d": district, "p": PERIOD}))["data"]["districtBillRun"]
    assert not standing["finished"] and all(
        c["run"] is None for c in standing["communities"] if not c["problem"]
    )
    done = (await steward(RUN, {"d": district, "p": PERIOD}))["data"]["runDistrictBills"]
    assert done["__typename"] == "DistrictBillRunProgress" and done["districtRun"]["finished"]
    standing = (await steward(STANDING, {"d": district, "p": PERIOD}))["data"]["districtBillRun"]
    assert standing["finished"]


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        (OFFICIAL_ZHUJIAJIAO, "FORBIDDEN"),  # oversees the district, bills nothing
        (FIELD_ZHUJIAJIAO, "FORBIDDEN"),
        (STEWARD_XIUSHAN, "NOT_FOUND"),  # a steward of another district
        (RESIDENT_XIUSHAN, None),  # refused by the staff-only permission, before any service
    ],
)
async def test_only_the_districts_stewards_and_the_admin_run_it(gql, db, phone, code):
    district = str(await district_id(db))
    before = await runs_count(db)
    person = await login_demo(gql, phone)
    for document in (RUN, STANDING):
        answer = await person(document, {"d": district, "p": PERIOD}, expect_errors=True)
        assert answer["data"] is None and answer["errors"], answer
        assert code is None or answer["errors"][0]["extensions"]["code"] == code, answer
    assert await runs_count(db) == before


async def test_the_admin_runs_any_district(gql, db):
    admin = await login_demo(gql, ADMIN)
    done = (await admin(RUN, {"d": str(await district_id(db, NANNING)), "p": PERIOD}))["data"][
        "runDistrictBills"
    ]
    assert done["__typename"] == "DistrictBillRunProgress" and done["districtRun"]["finished"]


async def test_the_district_page_shows_each_community_and_runs_them_all(client, db):
    # Given the district steward on a community's fees page
    await log_in(client, STEWARD_ZHUJIAJIAO)
    district = await district_id(db)
    community = (await db.exec(select(Community.id).where(Community.district_id == district))).first()
    fees = await client.get(f"/staff/communities/{community}/billing")
    assert f'href="/staff/districts/{district}/billing"' in fees.text
    # When the steward opens the district's page, then presses Run for a new month
    page = await client.get(f"/staff/districts/{district}/billing?period={PERIOD}")
    assert page.status_code == 200 and "未开始" in page.text
    done = await client.post(
        f"/staff/districts/{district}/billing/run", data={"csrf_token": csrf_in(page.text), "period": PERIOD}
    )
    # Then every community shows its progress, done
    assert done.status_code == 200 and "未开始" not in done.text
    assert "所有有收费方案的小区都已完成" in done.text
    assert len(re.findall(r"<progress ", done.text)) == sum(1 for n in (await bills_of(db)).values() if n)
    # And a bad period is a translated error on the page, and changes nothing
    before = await runs_count(db)
    wrong = await client.post(
        f"/staff/districts/{district}/billing/run",
        data={"csrf_token": csrf_in(page.text), "period": "2030-13"},
    )
    assert wrong.status_code == 400 and "2026-05" in wrong.text and await runs_count(db) == before


async def test_a_community_steward_sees_no_link_and_cannot_open_the_district_page(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    district = await district_id(db, NANNING)
    community = (await db.exec(select(Community.id).where(Community.district_id == district))).first()
    fees = await client.get(f"/staff/communities/{community}/billing")
    assert fees.status_code == 200 and "/staff/districts/" not in fees.text
    assert (await client.get(f"/staff/districts/{district}/billing")).status_code in (403, 404)
