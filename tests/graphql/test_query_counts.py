"""DataLoaders: a list of many costs the SQL statements a list of few costs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from laoyou.accounts.models import AuditEvent, Person, Role, RoleGrant
from laoyou.estates.models import Building, Community, Household, Unit

from ..conftest import ADMIN, STEWARD_XIUSHAN, STEWARD_YUEYANG, STEWARD_ZHUJIAJIAO, login_demo


async def run(app: Any, client, name: str, **variables: Any) -> dict:  # noqa: ANN001
    """Run one of the PWA's persisted operations, as the PWA does."""
    result = await client(app.state.persisted[name].document, variables, operation_name=name)
    return result["data"]


async def test_staff_home_costs_the_same_for_twelve_communities_as_for_one(app, gql, sql_statements):
    counts, statements = {}, {}
    for phone in (ADMIN, STEWARD_ZHUJIAJIAO, STEWARD_YUEYANG, STEWARD_XIUSHAN):
        staff = await login_demo(gql, phone)
        counts[phone], data = await sql_statements.during(run(app, staff, "StaffHome"))
        counts[phone, "communities"] = len(data["viewer"]["staffCommunities"])
        statements[phone] = [" ".join(s.split())[:100] for s in sql_statements.statements]
    # The admin sees 12 communities, the Zhujiajiao steward 9, the Yueyang steward 2, the Xiushan steward 1
    assert [
        counts[p, "communities"] for p in (ADMIN, STEWARD_ZHUJIAJIAO, STEWARD_YUEYANG, STEWARD_XIUSHAN)
    ] == [12, 9, 2, 1]
    # And each home costs the same number of statements
    assert (
        counts[ADMIN] == counts[STEWARD_ZHUJIAJIAO] == counts[STEWARD_YUEYANG] == counts[STEWARD_XIUSHAN]
    ), statements


async def add_households(db, community_name: str, count: int) -> int:  # noqa: ANN001
    """Add a building of `count` households, each with one or two residents, to a community."""
    community = (await db.execute(select(Community).where(Community.name == community_name))).scalar_one()
    building = Building(
        community_id=community.id, district_id=community.district_id, name="测试楼", floors=10
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
                "floor": i // 5 + 1,
                "floor_area_centi_m2": 6000 + i,
            }
            for i in range(count)
        ],
    )
    units = (
        (await db.execute(select(Unit.id).where(Unit.building_id == building.id).order_by(Unit.id)))
        .scalars()
        .all()
    )
    await db.execute(
        insert(Household),
        [
            {
                "unit_id": uid,
                "community_id": community.id,
                "district_id": community.district_id,
                "head_name": f"户主{i}",
            }
            for i, uid in enumerate(units)
        ],
    )
    households = (
        (
            await db.execute(
                select(Household.id)
                .join(Unit, Unit.id == Household.unit_id)
                .where(Unit.building_id == building.id)
                .order_by(Household.id)
            )
        )
        .scalars()
        .all()
    )
    people = [
        {
            "phone": f"+8613700{i:06d}",
            "name": f"住户{i}",
            "text_size": "large",
            "ui_mode": "elderly",
            "is_active": True,
        }
        for i in range(2 * count)
    ]
    await db.execute(insert(Person), people)
    ids = dict(
        (await db.execute(select(Person.phone, Person.id).where(Person.phone.like("+8613700%")))).all()
    )
    await db.execute(
        insert(RoleGrant),
        [
            {
                "person_id": ids[person["phone"]],
                "role": Role.resident.value,
                "district_id": community.district_id,
                "community_id": community.id,
                "household_id": households[i // 2],
                "on_duty": False,
            }
            for i, person in enumerate(people)
            if i % 2 == 0 or i % 4 == 1  # one or two residents per household
        ],
    )
    await db.commit()
    return community.id


async def test_households_list_costs_the_same_for_fifty_as_for_five(app, gql, db, sql_statements):
    # Given Xiushan Garden with more than fifty households
    community_id = await add_households(db, "秀山花园", 60)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    # When its steward lists five, then fifty, with their members and addresses
    few, small = await sql_statements.during(
        run(app, steward, "CommunityHouseholds", id=str(community_id), first=5)
    )
    many, large = await sql_statements.during(
        run(app, steward, "CommunityHouseholds", id=str(community_id), first=50)
    )
    assert len(small["community"]["households"]["nodes"]) == 5
    assert len(large["community"]["households"]["nodes"]) == 50
    assert sum(len(h["members"]) for h in large["community"]["households"]["nodes"]) > 50
    # Then both cost the same number of statements
    assert few == many, sql_statements.statements


async def test_staff_reading_members_is_audited_once_per_household(app, gql, db):
    # Given a steward who lists households with their members
    community_id = await add_households(db, "秀山花园", 12)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    before = (
        await db.execute(select(AuditEvent.subject_id).where(AuditEvent.action == "household.read_people"))
    ).all()
    data = await run(app, steward, "CommunityHouseholds", id=str(community_id), first=10)
    # Then each household whose people were shown is in the audit log, with the steward as actor
    shown = {int(h["id"]) for h in data["community"]["households"]["nodes"]}
    rows = (
        await db.execute(
            select(AuditEvent.subject_id, AuditEvent.actor_id, AuditEvent.subject_type).where(
                AuditEvent.action == "household.read_people"
            )
        )
    ).all()
    assert len(rows) == len(before) + len(shown)
    assert {r.subject_id for r in rows} >= shown
    steward_id = (
        await db.execute(select(Person.id).where(Person.phone == "+86" + STEWARD_XIUSHAN))
    ).scalar_one()
    assert {r.actor_id for r in rows if r.subject_id in shown} == {steward_id}
    assert {r.subject_type for r in rows} == {"household"}


async def test_reading_the_same_households_again_soon_is_the_same_reading(app, gql, db):
    # Given a steward whose page of households refreshes itself
    from datetime import timedelta

    from sqlalchemy import func, update

    from laoyou.accounts.audit import SAME_READING
    from laoyou.core.time import utcnow

    community_id = await add_households(db, "秀山花园", 4)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    audited = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "household.read_people")
    before = (await db.execute(audited)).scalar_one()
    first = await run(app, steward, "CommunityHouseholds", id=str(community_id), first=4)
    shown = len(first["community"]["households"]["nodes"])
    once = (await db.execute(audited)).scalar_one()
    assert once - before == shown > 0
    # When it refreshes within SAME_READING, then nothing more is written
    await run(app, steward, "CommunityHouseholds", id=str(community_id), first=4)
    assert (await db.execute(audited)).scalar_one() == once
    # And once that time has passed, reading them again is a new line per household
    await db.execute(
        update(AuditEvent)
        .where(AuditEvent.action == "household.read_people")
        .values(created_at=utcnow() - SAME_READING - timedelta(seconds=1))
    )
    await run(app, steward, "CommunityHouseholds", id=str(community_id), first=4)
    assert (await db.execute(audited)).scalar_one() == once + shown


async def test_residents_reading_their_own_household_are_not_audited(gql, db):
    from ..conftest import RESIDENT_XIUSHAN

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await resident("{ viewer { households { members { name } } } }")
    rows = (await db.execute(select(AuditEvent.id).where(AuditEvent.action == "household.read_people"))).all()
    assert rows == []


async def test_family_page_costs_the_same_for_many_links_as_for_one(app, gql, sql_statements):
    # Given a resident with one family link (the demo son), then with four more requests
    from ..accounts.helpers import login_new_person
    from ..conftest import RESIDENT_XIUSHAN

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    one, data = await sql_statements.during(run(app, resident, "FamilyPage"))
    assert len(data["viewer"]["familyLinks"]) == 1
    for n in range(4):
        relative = await login_new_person(gql, app, f"1390000{n:04d}")
        await relative(
            'mutation { requestFamilyLink(phone: "13800000001", relation: "亲戚") { __typename } }'
        )
    many, data = await sql_statements.during(run(app, resident, "FamilyPage"))
    assert len(data["viewer"]["familyLinks"]) == 5
    # Then the page costs the same
    assert one == many, sql_statements.statements


async def test_board_lines_that_need_the_viewers_roles_cost_no_statement_more(app, gql, sql_statements):
    # Given the Zhujiajiao board, as its steward sees it
    from ..conftest import STEWARD_ZHUJIAJIAO

    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    roles = (await steward("{ viewer { roles { districtId } } }"))["data"]["viewer"]["roles"]
    district = next(r["districtId"] for r in roles if r["districtId"])
    plain = "query ($d: ID!) { workOrderBoard(districtId: $d, first: 20) { nodes { id status community { name } } } }"
    judged = (
        "query ($d: ID!) { workOrderBoard(districtId: $d, first: 20) { nodes { id status community { name } "
        "allowedActions authorHidden reporter { name } } } }"
    )
    # When the lines also say what the steward may do and who reported them
    plain_count, plain_data = await sql_statements.during(steward(plain, {"d": district}))
    judged_count, judged_data = await sql_statements.during(steward(judged, {"d": district}))
    # Then the roles come from the community the board's own statement brought: no statement more
    nodes = judged_data["data"]["workOrderBoard"]["nodes"]
    assert nodes and all(n["allowedActions"] for n in nodes)
    assert judged_count == plain_count
