"""Bulk import of units and households from .xlsx and .csv: a plan of row outcomes first, then the writes;
the same file twice changes nothing; errors name their cell; strangers are told NotFound."""

from __future__ import annotations

import io
import time

import openpyxl
import pytest
from sqlalchemy import func, select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.errors import LaoyouError, NotFound
from laoyou.core.phone import normalise_phone
from laoyou.estates.importing import (
    apply_import,
    parse_rows,
    plan_import,
    read_table,
    template_csv,
    template_xlsx,
)
from laoyou.estates.models import Community, Household, Unit

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG
from ..web.conftest import log_in

HEADER_ZH = ["楼栋", "单元号", "楼层", "面积", "户主", "电话", "业主/租户"]
HEADER_EN = ["Building", "Unit number", "Floor", "Area", "Head of household", "Phones", "Owner or tenant"]


async def actor_for(db, phone: str) -> Actor:  # noqa: ANN001
    person = await accounts.person_by_phone(db, normalise_phone(phone))
    return Actor(person=person, grants=await accounts.live_grants(db, person.id))


def own_community(actor: Actor) -> int:
    return next(g.community_id for g in actor.grants_of(Role.steward) if g.community_id)


def xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list], encoding: str = "utf-8") -> bytes:
    return "\n".join(",".join(str(c) for c in row) for row in rows).encode(encoding)


async def run(
    db, actor: Actor, community: int, name: str, data: bytes, *, write: bool = True, batch: int = 3
):  # noqa: ANN001, ANN201
    plan = await plan_import(db, actor=actor, community_id=community, rows=parse_rows(read_table(name, data)))
    if write and not plan.errors:
        await apply_import(db, actor=actor, plan=plan, batch=batch)
    return plan


def outcomes(plan) -> list[str]:  # noqa: ANN001
    return [row.outcome for row in plan.rows]


SHEET = [
    HEADER_ZH,
    ["导入1号楼", "101", 1, 75.5, "王秀英", "13912340001", "业主"],
    ["导入1号楼", "102", 1, "80", "李建国", "13912340002、13912340003", "租户"],
    ["导入2号楼", "201", 2, "60.25", "", "", ""],
]


async def test_xlsx_with_chinese_headings_imports_then_changes_nothing(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    plan = await run(db, actor, community, "住户.xlsx", xlsx(SHEET))
    assert outcomes(plan) == ["new", "new", "new"]
    units = (
        await db.exec(
            select(Unit).where(Unit.community_id == community, Unit.number.in_(["101", "102", "201"]))
        )
    ).all()
    areas = {u[0].number: u[0].floor_area_centi_m2 for u in units}
    assert areas["101"] == 7550 and areas["201"] == 6025
    household = (await db.exec(select(Household).where(Household.head_name == "李建国"))).one()[0]
    grants = (
        await db.exec(
            select(RoleGrant).where(RoleGrant.household_id == household.id, RoleGrant.role == "resident")
        )
    ).all()
    assert len(grants) == 2

    count = (await db.exec(select(func.count()).select_from(RoleGrant))).one()[0]
    again = await run(db, actor, community, "住户.xlsx", xlsx(SHEET))
    assert outcomes(again) == ["unchanged", "unchanged", "unchanged"]
    assert (await db.exec(select(func.count()).select_from(RoleGrant))).one()[0] == count


async def test_csv_in_english_gb18030_and_bom_report_changes(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    await run(db, actor, community, "a.csv", b"\xef\xbb\xbf" + csv_bytes(SHEET))
    changed = [HEADER_EN, ["导入1号楼", "101", "1", "76", "王秀英", "13912340001;13912340009", "owner"]]
    plan = await run(db, actor, community, "b.csv", csv_bytes(changed, "gb18030"), write=False)
    assert outcomes(plan) == ["changed"]
    words = [c.text("en") for c in plan.rows[0].changes]
    assert words == ["area 75.50 → 76.00 m²", "new resident 139****0009"]


async def test_errors_name_the_cell_and_nothing_is_written(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    bad = [
        HEADER_ZH,
        ["导入3号楼", "301", 3, "75.505", "张三", "13912340011", ""],
        ["导入3号楼", "302", 3, "70", "张四", "12345", ""],
        ["导入3号楼", "302", 3, "70", "", "", ""],
        ["导入3号楼", "303", 3, "70", "", "", "房东"],
    ]
    plan = await run(db, actor, community, "bad.xlsx", xlsx(bad))
    # the third row is not a duplicate: the row it repeats is an error
    assert outcomes(plan) == ["error", "error", "new", "error"]
    first, second = plan.rows[0], plan.rows[1]
    assert (first.cell, first.column) == ("D2", "面积")
    assert "two decimals" in first.error.text("en")
    assert (second.cell, second.column) == ("F3", "电话")
    assert plan.rows[3].cell == "G5"
    assert "请" in first.error.text("zh_CN")
    assert (await db.exec(select(Unit).where(Unit.number == "301"))).first() is None
    with pytest.raises(LaoyouError):
        await apply_import(db, actor=actor, plan=plan)


async def test_duplicate_row_and_missing_column_and_bad_file(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    twice = [HEADER_ZH, ["导入4号楼", "401", 4, "70"], ["导入4号楼", "401", 4, "71"]]
    plan = await run(db, actor, community, "t.csv", csv_bytes(twice), write=False)
    assert outcomes(plan) == ["new", "error"]
    assert "row 2" in plan.rows[1].error.text("en")
    with pytest.raises(LaoyouError) as missing:
        parse_rows(read_table("m.csv", csv_bytes([["楼栋", "单元号", "楼层"], ["1", "1", "1"]])))
    assert missing.value.params["column"] == "面积"
    for name, data in [("a.xls", b"whatever"), ("a.xlsx", b"not a zip"), ("a.pdf", b"%PDF")]:
        with pytest.raises(LaoyouError):
            read_table(name, data)


async def test_stranger_steward_cannot_import_elsewhere(db) -> None:  # noqa: ANN001
    mine = await actor_for(db, STEWARD_XIUSHAN)
    stranger = await actor_for(db, STEWARD_YUEYANG)
    target = await db.get(Community, own_community(mine))
    theirs = await db.get(Community, own_community(stranger))
    assert target.district_id != theirs.district_id
    with pytest.raises(NotFound):
        await run(db, stranger, target.id, "a.csv", csv_bytes(SHEET))


async def test_templates_read_back_as_one_valid_row(db) -> None:  # noqa: ANN001
    for name, data in [("t.csv", template_csv()), ("t.xlsx", template_xlsx())]:
        rows = parse_rows(read_table(name, data))
        assert [r.outcome for r in rows] == ["new"] and rows[0].area_centi_m2 == 7550


async def test_two_thousand_rows_then_again(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    sheet = [HEADER_ZH] + [
        [f"批量{n // 100}号楼", f"{n % 100 + 1}", 1 + n % 10, "65.40", f"户主{n}", f"1391{n:07d}", "业主"]
        for n in range(2_000)
    ]
    data = csv_bytes(sheet)
    started = time.perf_counter()
    plan = await run(db, actor, community, "big.csv", data, batch=500)
    assert plan.count("new") == 2_000
    again = await run(db, actor, community, "big.csv", data)
    assert again.count("unchanged") == 2_000
    assert time.perf_counter() - started < 60


async def test_a_rerun_after_a_crash_writes_only_the_rest(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    sheet = [HEADER_ZH] + [
        [f"续传{n // 4}号楼", f"{n}", 1, "50", f"户主{n}", f"1393{n:07d}", ""] for n in range(10)
    ]
    data = csv_bytes(sheet)

    async def crash() -> None:
        raise RuntimeError("the machine stopped")

    plan = await run(db, actor, community, "r.csv", data, write=False)
    with pytest.raises(RuntimeError):
        await apply_import(db, actor=actor, plan=plan, batch=4, on_batch=crash)
    resumed = await run(db, actor, community, "r.csv", data, write=False)
    assert outcomes(resumed) == ["unchanged"] * 4 + ["new"] * 6
    assert await apply_import(db, actor=actor, plan=resumed, batch=4) == 6
    final = await run(db, actor, community, "r.csv", data, write=False)
    assert outcomes(final) == ["unchanged"] * 10


async def test_staff_download_the_templates_and_residents_get_404(client) -> None:  # noqa: ANN001
    await log_in(client, STEWARD_XIUSHAN)
    for suffix in ("xlsx", "csv"):
        answer = await client.get(f"/staff/estates/import-template.{suffix}")
        assert answer.status_code == 200
        assert f'filename="estate-import.{suffix}"' in answer.headers["content-disposition"]
        rows = parse_rows(read_table(f"t.{suffix}", answer.content))
        assert [(r.building, r.number, r.outcome) for r in rows] == [("1号楼", "101", "new")]
    client.cookies.clear()
    await log_in(client, RESIDENT_XIUSHAN)
    assert (await client.get("/staff/estates/import-template.csv")).status_code == 404


async def tenures(db, *phones: str) -> list[str | None]:  # noqa: ANN001
    """The tenure on each person's live resident grant."""
    found = await db.exec(
        select(RoleGrant.tenure)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(
            Person.phone.in_([normalise_phone(p) for p in phones]),
            RoleGrant.role == "resident",
            RoleGrant.revoked_at.is_(None),
        )
    )
    return sorted(t for (t,) in found.all())


async def test_owner_or_tenant_is_stored_on_the_residents_and_a_change_of_it_is_a_change(db) -> None:  # noqa: ANN001
    # Given a sheet with an owner, two tenants and a unit without residents, imported
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    await run(db, actor, community, "t.xlsx", xlsx(SHEET))
    # Then each resident's grant says owner or tenant as the row did
    assert await tenures(db, "13912340001") == ["owner"]
    assert await tenures(db, "13912340002", "13912340003") == ["tenant", "tenant"]

    # When the tenants become owners
    moved = [HEADER_ZH, ["导入1号楼", "102", 1, "80", "李建国", "13912340002、13912340003", "业主"]]
    plan = await run(db, actor, community, "t.xlsx", xlsx(moved), write=False)
    # Then the plan shows it as a change, one line for each person
    assert outcomes(plan) == ["changed"]
    assert [c.text("en") for c in plan.rows[0].changes] == [
        "owner or tenant of 139****0002 租户 → 业主",
        "owner or tenant of 139****0003 租户 → 业主",
    ]
    # And applying it updates their grants, after which the same file changes nothing
    count = (await db.exec(select(func.count()).select_from(RoleGrant))).one()[0]
    await apply_import(db, actor=actor, plan=plan)
    assert await tenures(db, "13912340002", "13912340003") == ["owner", "owner"]
    assert (await db.exec(select(func.count()).select_from(RoleGrant))).one()[0] == count
    assert outcomes(await run(db, actor, community, "t.xlsx", xlsx(moved), write=False)) == ["unchanged"]


async def test_a_blank_owner_or_tenant_leaves_what_is_recorded(db) -> None:  # noqa: ANN001
    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    await run(db, actor, community, "t.xlsx", xlsx(SHEET))
    blank = [HEADER_ZH, ["导入1号楼", "101", 1, 75.5, "王秀英", "13912340001", ""]]
    plan = await run(db, actor, community, "t.xlsx", xlsx(blank))
    assert outcomes(plan) == ["unchanged"]
    assert await tenures(db, "13912340001") == ["owner"]


async def test_a_row_for_an_archived_home_is_a_mistake_and_adds_nobody_to_it(db) -> None:  # noqa: ANN001
    from laoyou.estates.onboarding import do_archive_household

    actor = await actor_for(db, STEWARD_XIUSHAN)
    community = own_community(actor)
    empty = [HEADER_ZH, ["导入4号楼", "401", 4, "60", "赵五", "", ""]]  # a household, nobody living in it
    first = await run(db, actor, community, "a.xlsx", xlsx(empty))
    assert outcomes(first) == ["new"], [r.error.text("en") for r in first.errors]
    unit = (await db.exec(select(Unit).where(Unit.community_id == community, Unit.number == "401"))).one()[0]
    household = (await db.exec(select(Household).where(Household.unit_id == unit.id))).one()[0]
    await do_archive_household(db, actor=actor, household_id=household.id)

    moving_in = [HEADER_ZH, ["导入4号楼", "401", 4, "60", "赵六", "13912340041", "业主"]]
    plan = await run(db, actor, community, "b.xlsx", xlsx(moving_in))
    assert outcomes(plan) == ["error"] and plan.rows[0].error.text("en") == "This home is archived."
    assert (await db.exec(select(Person).where(Person.phone == "+8613912340041"))).first() is None
