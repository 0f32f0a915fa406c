"""Archiving households and districts: refused with a reason while something live depends on them; once
archived they leave the lists, the stats, the bill runs and the login cards, and what points at them stays."""

from __future__ import annotations

from sqlalchemy import func, select, update

from laoyou.accounts.models import AuditEvent, LoginCard, RoleGrant
from laoyou.billing import service as billing
from laoyou.billing.models import Bill, BillStatus
from laoyou.estates import onboarding
from laoyou.estates.models import District, Household
from laoyou.tickets.models import WorkOrder

from ..billing.helpers import actor_for
from ..conftest import ADMIN, STEWARD_XIUSHAN, STEWARD_YUEYANG, login_demo
from .test_onboarding import (
    COMMUNITY,
    CREATE_BUILDING,
    CREATE_COMMUNITY,
    CREATE_DISTRICT,
    CREATE_HOUSEHOLD,
    CREATE_UNIT,
    DISTRICT,
    DISTRICTS,
    ERROR,
    UPDATE_DISTRICT,
    community_id,
    data,
    nodes,
    refused,
)

ARCHIVE_DISTRICT = f"""
mutation ($id: ID!) {{ archiveDistrict(id: $id) {{ ... on DistrictSaved {{ district {{ id }} }} {ERROR} }} }}
"""
ARCHIVE_COMMUNITY = f"""
mutation ($id: ID!) {{ archiveCommunity(id: $id) {{ ... on CommunitySaved {{ community {{ id }} }} {ERROR} }} }}
"""
ARCHIVE_HOUSEHOLD = f"""
mutation ($id: ID!) {{ archiveHousehold(id: $id) {{ ... on HouseholdSaved {{ household {{ id }} }} {ERROR} }} }}
"""
ARCHIVE_UNIT = f"""
mutation ($id: ID!) {{ archiveUnit(id: $id) {{ ... on UnitSaved {{ unit {{ id }} }} {ERROR} }} }}
"""
ADD_RESIDENT = f"""
mutation ($h: ID!, $phone: String!) {{
  addResident(householdId: $h, name: "周新", phone: $phone, relation: OWNER) {{
    ... on HouseholdSaved {{ household {{ id members {{ id }} }} }} {ERROR}
  }}
}}
"""
REMOVE_RESIDENT = f"""
mutation ($h: ID!, $p: ID!) {{
  removeResident(householdId: $h, personId: $p) {{ ... on HouseholdSaved {{ household {{ id }} }} {ERROR} }}
}}
"""
ISSUE_CARD = """
mutation ($h: ID!, $p: ID!) {
  issueLoginCard(householdId: $h, personId: $p) { __typename ... on LoginCardIssued { card { id } } }
}
"""
HOUSEHOLDS = """
query ($id: ID!) {
  community(id: $id) { stats { households } households(first: 100) { nodes { id } } }
}
"""
LOGIN_CARD_PLAN = """
query ($c: ID!) { loginCardPlan(communityId: $c) { cards { household { id } } skipped { household { id } } } }
"""


async def new_household(steward, community: str, name: str = "77栋") -> tuple[str, str]:  # noqa: ANN001
    """A building, a unit and a household of the steward's, with nothing owed; (household id, unit id)."""
    building = (
        await data(
            steward, CREATE_BUILDING, {"c": community, "input": {"name": name, "floors": 6}}, "createBuilding"
        )
    )["building"]
    unit = (
        await data(
            steward,
            CREATE_UNIT,
            {"b": building["id"], "input": {"number": "1-101", "floor": 1, "floorArea": "60.00"}},
            "createUnit",
        )
    )["unit"]
    household = (await data(steward, CREATE_HOUSEHOLD, {"u": unit["id"], "name": "周新"}, "createHousehold"))[
        "household"
    ]
    return household["id"], unit["id"]


# --- districts ---------------------------------------------------------------------------------------------


async def test_the_admin_archives_an_empty_district_and_it_leaves_the_list(gql, db):
    admin = await login_demo(gql, ADMIN)
    created = (await data(admin, CREATE_DISTRICT, {"input": DISTRICT}, "createDistrict"))["district"]
    archived = await data(admin, ARCHIVE_DISTRICT, {"id": created["id"]}, "archiveDistrict")
    assert archived["district"]["id"] == created["id"]
    assert created["id"] not in {d["id"] for d in await nodes(admin, DISTRICTS, "districts")}
    row = await db.get(District, int(created["id"]))
    await db.refresh(row)
    assert row.archived_at is not None
    # Archived is history: it is not changed, archived again or given communities.
    assert await refused(admin, UPDATE_DISTRICT, {"id": created["id"], "input": DISTRICT})
    assert await refused(admin, ARCHIVE_DISTRICT, {"id": created["id"]})
    assert await refused(admin, CREATE_COMMUNITY, {"d": created["id"], "input": COMMUNITY})


async def test_a_district_with_a_live_community_is_not_archived(gql, db):
    admin = await login_demo(gql, ADMIN)
    created = (await data(admin, CREATE_DISTRICT, {"input": DISTRICT}, "createDistrict"))["district"]
    community = (
        await data(admin, CREATE_COMMUNITY, {"d": created["id"], "input": COMMUNITY}, "createCommunity")
    )["community"]
    error = await data(admin, ARCHIVE_DISTRICT, {"id": created["id"]}, "archiveDistrict")
    assert error["code"] == "NOT_ALLOWED" and error["message"] == "Please archive its communities first."
    assert (await db.get(District, int(created["id"]))).archived_at is None
    # Once its community is archived, it goes.
    await data(admin, ARCHIVE_COMMUNITY, {"id": community["id"]}, "archiveCommunity")
    assert "district" in await data(admin, ARCHIVE_DISTRICT, {"id": created["id"]}, "archiveDistrict")


async def test_only_the_admin_archives_a_district(gql, db):
    admin = await login_demo(gql, ADMIN)
    created = (await data(admin, CREATE_DISTRICT, {"input": DISTRICT}, "createDistrict"))["district"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    assert await refused(steward, ARCHIVE_DISTRICT, {"id": created["id"]})
    assert (await db.get(District, int(created["id"]))).archived_at is None


# --- households ------------------------------------------------------------------------------------------


async def test_a_household_is_archived_once_its_people_are_off_and_leaves_lists_and_cards(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    household, unit = await new_household(steward, xiushan)
    members = (await data(steward, ADD_RESIDENT, {"h": household, "phone": "13712340001"}, "addResident"))[
        "household"
    ]["members"]
    person = members[0]["id"]
    card = await data(steward, ISSUE_CARD, {"h": household, "p": person}, "issueLoginCard")
    assert card["__typename"] == "LoginCardIssued"

    # Someone lives there: refused, nothing changes.
    error = await data(steward, ARCHIVE_HOUSEHOLD, {"id": household}, "archiveHousehold")
    assert (
        error["code"] == "NOT_ALLOWED"
        and error["message"] == "People still live in this household. Please take them off first."
    )
    assert (await db.get(Household, int(household))).archived_at is None

    await data(steward, REMOVE_RESIDENT, {"h": household, "p": person}, "removeResident")
    before = (await data(steward, HOUSEHOLDS, {"id": xiushan}, "community"))["stats"]["households"]
    archived = await data(steward, ARCHIVE_HOUSEHOLD, {"id": household}, "archiveHousehold")
    assert archived["household"]["id"] == household

    listed = await data(steward, HOUSEHOLDS, {"id": xiushan}, "community")
    assert household not in {h["id"] for h in listed["households"]["nodes"]}
    assert listed["stats"]["households"] == before - 1
    plan = await data(steward, LOGIN_CARD_PLAN, {"c": xiushan}, "loginCardPlan")
    assert household not in {p["household"]["id"] for p in plan["cards"] + plan["skipped"]}
    # Its unused card stops working, and the archiving is audited.
    row = await db.get(LoginCard, int(card["card"]["id"]))
    await db.refresh(row)
    assert row.revoked_at is not None
    assert await db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "household.archive", AuditEvent.subject_id == int(household))
    )
    # Nobody is added to it any more, and its unit may now be archived.
    assert await refused(steward, ADD_RESIDENT, {"h": household, "phone": "13712340002"})
    assert "unit" in await data(steward, ARCHIVE_UNIT, {"id": unit}, "archiveUnit")


async def test_a_household_with_unpaid_bills_is_not_archived_and_bill_runs_skip_archived_ones(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    owing, _ = await new_household(steward, xiushan, "77栋")
    gone, _ = await new_household(steward, xiushan, "78栋")
    assert "household" in await data(steward, ARCHIVE_HOUSEHOLD, {"id": gone}, "archiveHousehold")

    actor = await actor_for(db, STEWARD_XIUSHAN)
    run = await billing.do_run_bills(db, actor=actor, community_id=int(xiushan), period="2031-01")
    await db.flush()
    billed = set(await db.scalars(select(Bill.household_id).where(Bill.run_id == run.id)))
    assert int(owing) in billed and int(gone) not in billed
    live = await db.scalar(
        select(func.count())
        .select_from(Household)
        .where(Household.community_id == int(xiushan), Household.archived_at.is_(None))
    )
    assert run.total == live

    await db.execute(
        update(Bill)
        .where(Bill.household_id == int(owing))
        .values(status=BillStatus.open.value, amount_fen=100)
    )
    await db.flush()
    error = await data(steward, ARCHIVE_HOUSEHOLD, {"id": owing}, "archiveHousehold")
    assert (
        error["code"] == "NOT_ALLOWED"
        and error["message"] == "This household has unpaid bills. Please settle or waive them first."
    )
    assert (await db.get(Household, int(owing))).archived_at is None


async def test_a_household_with_an_open_work_order_is_not_archived(gql, db):
    order = (
        await db.scalars(select(WorkOrder).where(WorkOrder.is_open, WorkOrder.household_id.is_not(None)))
    ).first()
    assert order is not None, "the demo has an open work order of a household"
    household = order.household_id
    # Given nobody lives there any more and nothing is owed
    await db.execute(
        update(RoleGrant).where(RoleGrant.household_id == household).values(revoked_at=func.now())
    )
    await db.execute(update(Bill).where(Bill.household_id == household).values(status=BillStatus.paid.value))
    await db.flush()
    admin = await login_demo(gql, ADMIN)
    error = await data(admin, ARCHIVE_HOUSEHOLD, {"id": str(household)}, "archiveHousehold")
    assert (
        error["code"] == "NOT_ALLOWED"
        and error["message"] == "This household has open work orders. Please close them first."
    )
    assert (await db.get(Household, household)).archived_at is None


async def test_a_steward_of_another_community_cannot_archive_a_household(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    household, _ = await new_household(steward, await community_id(steward, "秀山花园"))
    stranger = await login_demo(gql, STEWARD_YUEYANG)
    assert await refused(stranger, ARCHIVE_HOUSEHOLD, {"id": household})
    assert (await db.get(Household, int(household))).archived_at is None


def test_bills_and_work_orders_are_checked_before_a_household_is_archived():
    names = {check.__name__ for check in onboarding._household_archive_checks}
    assert {"check_household_settled", "check_household_has_no_open_orders"} <= names
