"""Estate import benchmark: 20,000 spreadsheet rows (units, heads of household, phones) imported into a community.

    python bench/import.py [--quick]

SQLite in a temporary directory (PostgreSQL when LAOYOU_DATABASE_URL is set). The floor is a raw executemany
INSERT of the same rows (units, households, persons, resident grants) into a second community. The two sides run
in alternating short windows of rows, so a slow moment of the machine falls on both; each side's rows per second
is its rows over its summed time. `ratio:` (last) is the import's rows per second divided by the floor's.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from sqlalchemy import insert, select  # noqa: E402

from laoyou.accounts.actor import Actor  # noqa: E402
from laoyou.accounts.models import Person, Role, RoleGrant  # noqa: E402
from laoyou.core.db import make_engine, make_sessionmaker  # noqa: E402
from laoyou.core.migrate import upgrade  # noqa: E402
from laoyou.core.settings import Settings  # noqa: E402
from laoyou.core.time import utcnow  # noqa: E402
from laoyou.estates.importing import apply_import, parse_rows, plan_import, read_table  # noqa: E402
from laoyou.estates.models import Building, Community, District, Household, Unit  # noqa: E402

HEADER = ["楼栋", "单元号", "楼层", "面积", "户主", "电话", "业主/租户"]


def sheet(start: int, stop: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(start, stop):
        writer.writerow(
            [f"{n // 200}号楼", f"{n % 200 + 1}", 1 + n % 20, "72.35", f"户主{n}", f"1391{n:07d}", "业主"]
        )
    return out.getvalue().encode("utf-8")


async def setup(maker) -> tuple[int, int, int]:  # noqa: ANN001
    async with maker() as session:
        district = District(
            name="bench", city="bench", operator_name="bench", operator_phone="+8613900000000"
        )
        session.add(district)
        await session.flush()
        ids = []
        for name in ("import", "raw"):
            community = Community(
                district_id=district.id, name=name, address="bench", on_duty_phone="+8613900000000"
            )
            session.add(community)
            await session.flush()
            ids.append(community.id)
        await session.commit()
        return district.id, ids[0], ids[1]


async def import_window(maker, actor: Actor, community_id: int, data: bytes) -> float:  # noqa: ANN001
    start = time.perf_counter()
    async with maker() as session:
        rows = parse_rows(read_table("bench.csv", data))
        plan = await plan_import(session, actor=actor, community_id=community_id, rows=rows)
        await apply_import(session, actor=actor, plan=plan, on_batch=session.commit)
        await session.commit()
    return time.perf_counter() - start


async def raw_window(
    maker, district_id: int, community_id: int, buildings: dict, start_n: int, stop_n: int
) -> float:  # noqa: ANN001
    """The floor: the same rows, already checked, written with one executemany per table."""
    numbers = range(start_n, stop_n)
    started = time.perf_counter()
    async with maker() as session:
        for b in sorted({n // 200 for n in numbers} - buildings.keys()):
            building = Building(
                community_id=community_id, district_id=district_id, name=f"{b}号楼", floors=20
            )
            session.add(building)
            await session.flush()
            buildings[b] = building.id
        scope = {"community_id": community_id, "district_id": district_id}
        units = [
            {
                "building_id": buildings[n // 200],
                "number": f"{n % 200 + 1}",
                "floor": 1 + n % 20,
                "floor_area_centi_m2": 7235,
                **scope,
            }
            for n in numbers
        ]
        unit_ids = list((await session.execute(insert(Unit).returning(Unit.id), units)).scalars())
        homes = [
            {"unit_id": u, "head_name": f"户主{n}", "created_at": utcnow(), **scope}
            for u, n in zip(unit_ids, numbers, strict=True)
        ]
        home_ids = list((await session.execute(insert(Household).returning(Household.id), homes)).scalars())
        people = [{"phone": f"+861392{n:07d}", "name": f"户主{n}", "created_at": utcnow()} for n in numbers]
        person_ids = list((await session.execute(insert(Person).returning(Person.id), people)).scalars())
        await session.execute(
            insert(RoleGrant),
            [
                {
                    "person_id": p,
                    "role": Role.resident.value,
                    "household_id": h,
                    "tenure": "owner",
                    "created_at": utcnow(),
                    **scope,
                }
                for p, h in zip(person_ids, home_ids, strict=True)
            ],
        )
        await session.commit()
    return time.perf_counter() - started


async def main() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    total = 4_000 if "--quick" in sys.argv else 20_000
    window = 1_000
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            mode="dev", data_dir=Path(tmp), database_url=os.environ.get("LAOYOU_DATABASE_URL", "")
        )
        engine = make_engine(settings)
        await upgrade(engine)
        maker = make_sessionmaker(engine)
        district_id, imported, raw = await setup(maker)
        actor = Actor(
            person=Person(id=0, phone="", name="bench"), grants=[RoleGrant(person_id=0, role="admin")]
        )
        import_seconds = raw_seconds = 0.0
        buildings: dict[int, int] = {}
        for start in range(0, total, window):
            stop = min(start + window, total)
            import_seconds += await import_window(maker, actor, imported, sheet(start, stop))
            raw_seconds += await raw_window(maker, district_id, raw, buildings, start, stop)
        again = await import_window(maker, actor, imported, sheet(0, total))
        async with maker() as session:
            units = len(list(await session.execute(select(Unit.id).where(Unit.community_id == imported))))
        await engine.dispose()
    print(f"backend: {engine.dialect.name}")
    print(f"rows: {total} (windows of {window}, alternating)")
    print(f"units_imported: {units}")
    print(f"import_seconds: {import_seconds:.3f} s")
    print(f"import_rows_per_second: {total / import_seconds:.0f} rows/s")
    print(f"reimport_seconds: {again:.3f} s (the whole file again, changes nothing)")
    print(f"raw_insert_seconds: {raw_seconds:.3f} s")
    print(f"raw_insert_rows_per_second: {total / raw_seconds:.0f} rows/s")
    print(f"ratio: {(total / import_seconds) / (total / raw_seconds):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
