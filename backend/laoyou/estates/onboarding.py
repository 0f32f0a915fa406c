"""Onboarding estates: the operator creates, edits and archives districts, communities, buildings, units and
households.

Who may do what: the operator's admin everything; a district steward (a steward grant with a district and no
community) the communities of their district; a community steward the buildings, units and households of the
communities their team serves. Anyone else is told NotFound, whatever they ask for.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit
from laoyou.accounts.live import announce_account_changed
from laoyou.accounts.models import LoginCard, Person, Role, RoleGrant
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.phone import normalise_phone
from laoyou.core.text import check_text
from laoyou.core.time import utcnow
from laoyou.estates.models import Building, Community, District, Household, Unit
from laoyou.estates.service import (
    access_community,
    access_district,
    access_household,
    access_household_as_steward,
)

_AREA = re.compile(r"(\d{1,7})(?:\.(\d{1,2}))?")


@dataclass
class DistrictInput:
    name: str
    city: str
    operator_name: str
    operator_phone: str


@dataclass
class CommunityInput:
    name: str
    address: str
    on_duty_phone: str
    built_year: int | None = None
    attached_to_id: int | None = None


@dataclass
class BuildingInput:
    name: str
    floors: int


@dataclass
class UnitInput:
    number: str
    floor: int
    floor_area: str  # square metres as typed: "75.50"


# --- who may ---------------------------------------------------------------------------------------------


def _steward_districts(actor: Actor) -> set[int]:
    return {g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None and g.district_id}


def may_manage_communities(actor: Actor, district_id: int) -> bool:
    """The admin, or a steward of the whole district: they add and change its communities."""
    return actor.is_admin or district_id in _steward_districts(actor)


def may_edit_estate(actor: Actor, community: Community) -> bool:
    """Those who manage the district, and the stewards whose team serves the community (挂单 included)."""
    if may_manage_communities(actor, community.district_id):
        return True
    mine = {g.community_id for g in actor.grants_of(Role.steward) if g.community_id}
    return community.id in mine or community.attached_to_id in mine


def _require_admin(actor: Actor) -> None:
    actor.require_login()
    if not actor.is_admin:
        raise NotFound()


async def _managed_district(session: AsyncSession, actor: Actor, district_id: int) -> District:
    district = await access_district(session, actor=actor, district_id=district_id)
    if district.archived_at is not None or not may_manage_communities(actor, district.id):
        raise NotFound()
    return district


async def _admins_district(session: AsyncSession, actor: Actor, district_id: int) -> District:
    _require_admin(actor)
    district = await access_district(session, actor=actor, district_id=district_id)
    if district.archived_at is not None:
        raise NotFound()
    return district


async def _managed_community(session: AsyncSession, actor: Actor, community_id: int) -> Community:
    community = await access_community(session, actor=actor, community_id=community_id)
    if community.archived_at is not None or not may_manage_communities(actor, community.district_id):
        raise NotFound()
    return community


async def editable_community(session: AsyncSession, actor: Actor, community_id: int) -> Community:
    community = await access_community(session, actor=actor, community_id=community_id)
    if community.archived_at is not None or not may_edit_estate(actor, community):
        raise NotFound()
    return community


async def _editable_building(session: AsyncSession, actor: Actor, building_id: int) -> Building:
    actor.require_login()
    building = await session.get(Building, building_id)
    if building is None or building.archived_at is not None:
        raise NotFound()
    await editable_community(session, actor, building.community_id)
    return building


async def _editable_unit(session: AsyncSession, actor: Actor, unit_id: int) -> Unit:
    actor.require_login()
    unit = await session.get(Unit, unit_id)
    if unit is None or unit.archived_at is not None:
        raise NotFound()
    await editable_community(session, actor, unit.community_id)
    return unit


# --- what may be typed -------------------------------------------------------------------------------------


def checked_text(value: str, *, field: str, max_length: int) -> str:
    check_text(value, field=field)
    value = (value or "").strip()
    if not value:
        raise LaoyouError(ErrorCode.INVALID, "Please fill this in.", field=field)
    if len(value) > max_length:
        raise LaoyouError(
            ErrorCode.INVALID, "Please use at most %(n)s characters.", field=field, n=max_length
        )
    return value


def checked_whole(value: int, *, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise LaoyouError(
            ErrorCode.INVALID,
            "Please enter a number from %(low)s to %(high)s.",
            field=field,
            low=low,
            high=high,
        )
    return value


def parse_area(text: str, *, field: str = "floorArea") -> int:
    """ "75.50" (square metres, at most two decimals) -> 7550 hundredths of a square metre."""
    found = _AREA.fullmatch((text or "").strip())
    if found is None:
        raise LaoyouError(
            ErrorCode.INVALID,
            "Please enter the floor area in square metres, with at most two decimals, e.g. 75.50.",
            field=field,
        )
    return int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))


def _not_taken(taken: bool, *, field: str, message: str) -> None:
    # Checked before the insert so the person reads a sentence, not an IntegrityError; archived rows count,
    # since the unique constraint keeps them.
    if taken:
        raise LaoyouError(ErrorCode.ALREADY_EXISTS, message, field=field)


# --- districts ---------------------------------------------------------------------------------------------


def _district_fields(data: DistrictInput) -> dict:
    return {
        "name": checked_text(data.name, field="name", max_length=100),
        "city": checked_text(data.city, field="city", max_length=50),
        "operator_name": checked_text(data.operator_name, field="operatorName", max_length=100),
        "operator_phone": normalise_phone(data.operator_phone, field="operatorPhone"),
    }


async def do_create_district(session: AsyncSession, *, actor: Actor, data: DistrictInput) -> District:
    _require_admin(actor)
    district = District(**_district_fields(data))
    session.add(district)
    await session.flush()
    return district


async def do_update_district(
    session: AsyncSession, *, actor: Actor, district_id: int, data: DistrictInput
) -> District:
    district = await _admins_district(session, actor, district_id)
    for name, value in _district_fields(data).items():
        setattr(district, name, value)
    await session.flush()
    return district


async def _refuse_while_live(session: AsyncSession, model: type, condition: Any, message: str) -> None:
    """Archiving waits until nothing live hangs on the row; the refusal says what to settle first."""
    found = await session.exec(select(model.id).where(condition, col(model.archived_at).is_(None)))
    if found.first() is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, message)


async def _archived(session: AsyncSession, row: Any) -> Any:
    """Archive, never delete: bills, work orders and audit lines keep pointing at the row."""
    row.archived_at = utcnow()
    await session.flush()
    return row


async def do_archive_district(session: AsyncSession, *, actor: Actor, district_id: int) -> District:
    district = await _admins_district(session, actor, district_id)
    await _refuse_while_live(
        session, Community, Community.district_id == district.id, "Please archive its communities first."
    )
    return await _archived(session, district)


# --- communities -------------------------------------------------------------------------------------------


async def _community_fields(
    session: AsyncSession, data: CommunityInput, *, district_id: int, community_id: int | None
) -> dict:
    fields = {
        "name": checked_text(data.name, field="name", max_length=100),
        "address": checked_text(data.address, field="address", max_length=200),
        "on_duty_phone": normalise_phone(data.on_duty_phone, field="onDutyPhone"),
        "built_year": None
        if data.built_year is None
        else checked_whole(data.built_year, field="builtYear", low=1800, high=utcnow().year),
        "attached_to_id": data.attached_to_id,
    }
    taken = await session.exec(
        select(Community.id).where(
            Community.district_id == district_id,
            Community.name == fields["name"],
            col(Community.archived_at).is_(None),
        )
    )
    _not_taken(
        any(found != community_id for found in taken),
        field="name",
        message="This district already has a community with this name.",
    )
    if data.attached_to_id is not None:
        host = await session.get(Community, data.attached_to_id)
        # 挂单 goes to a community that serves with its own team: of the same district, not itself attached.
        if (
            host is None
            or host.id == community_id
            or host.district_id != district_id
            or host.archived_at is not None
            or host.attached_to_id is not None
        ):
            raise LaoyouError(
                ErrorCode.INVALID,
                "Please choose a community of the same district that has its own team.",
                field="attachedToId",
            )
        if community_id is not None:
            hosting = await session.exec(
                select(Community.id).where(
                    Community.attached_to_id == community_id, col(Community.archived_at).is_(None)
                )
            )
            if hosting.first() is not None:
                raise LaoyouError(
                    ErrorCode.INVALID,
                    "Other communities are attached to this one, so it cannot be attached itself.",
                    field="attachedToId",
                )
    return fields


async def do_create_community(
    session: AsyncSession, *, actor: Actor, district_id: int, data: CommunityInput
) -> Community:
    district = await _managed_district(session, actor, district_id)
    fields = await _community_fields(session, data, district_id=district.id, community_id=None)
    community = Community(
        district_id=district.id, **fields, attached_since=utcnow() if fields["attached_to_id"] else None
    )
    session.add(community)
    await session.flush()
    return community


async def do_update_community(
    session: AsyncSession, *, actor: Actor, community_id: int, data: CommunityInput
) -> Community:
    community = await _managed_community(session, actor, community_id)
    fields = await _community_fields(
        session, data, district_id=community.district_id, community_id=community.id
    )
    if fields["attached_to_id"] != community.attached_to_id:
        community.attached_since = utcnow() if fields["attached_to_id"] else None
    for name, value in fields.items():
        setattr(community, name, value)
    await session.flush()
    return community


async def do_archive_community(session: AsyncSession, *, actor: Actor, community_id: int) -> Community:
    community = await _managed_community(session, actor, community_id)
    await _refuse_while_live(
        session, Building, Building.community_id == community.id, "Please archive its buildings first."
    )
    await _refuse_while_live(
        session,
        Community,
        Community.attached_to_id == community.id,
        "Other communities are attached to this one.",
    )
    return await _archived(session, community)


# --- buildings ---------------------------------------------------------------------------------------------


async def _building_fields(
    session: AsyncSession, data: BuildingInput, *, community_id: int, building_id: int | None
) -> dict:
    name = checked_text(data.name, field="name", max_length=50)
    taken = await session.exec(
        select(Building.id).where(Building.community_id == community_id, Building.name == name)
    )
    _not_taken(
        any(found != building_id for found in taken),
        field="name",
        message="This community already has a building with this name.",
    )
    return {"name": name, "floors": checked_whole(data.floors, field="floors", low=1, high=200)}


async def do_create_building(
    session: AsyncSession, *, actor: Actor, community_id: int, data: BuildingInput
) -> Building:
    community = await editable_community(session, actor, community_id)
    fields = await _building_fields(session, data, community_id=community.id, building_id=None)
    building = Building(community_id=community.id, district_id=community.district_id, **fields)
    session.add(building)
    await session.flush()
    return building


async def do_update_building(
    session: AsyncSession, *, actor: Actor, building_id: int, data: BuildingInput
) -> Building:
    building = await _editable_building(session, actor, building_id)
    fields = await _building_fields(
        session, data, community_id=building.community_id, building_id=building.id
    )
    for name, value in fields.items():
        setattr(building, name, value)
    await session.flush()
    return building


async def do_archive_building(session: AsyncSession, *, actor: Actor, building_id: int) -> Building:
    building = await _editable_building(session, actor, building_id)
    await _refuse_while_live(
        session, Unit, Unit.building_id == building.id, "Please archive its units first."
    )
    return await _archived(session, building)


# --- units -------------------------------------------------------------------------------------------------


async def _unit_fields(
    session: AsyncSession, data: UnitInput, *, building: Building, unit_id: int | None
) -> dict:
    number = checked_text(data.number, field="number", max_length=20)
    taken = await session.exec(select(Unit.id).where(Unit.building_id == building.id, Unit.number == number))
    _not_taken(
        any(found != unit_id for found in taken),
        field="number",
        message="This building already has a unit with this number.",
    )
    return {
        "number": number,
        "floor": checked_whole(data.floor, field="floor", low=-5, high=building.floors),
        "floor_area_centi_m2": parse_area(data.floor_area),
    }


async def do_create_unit(session: AsyncSession, *, actor: Actor, building_id: int, data: UnitInput) -> Unit:
    building = await _editable_building(session, actor, building_id)
    fields = await _unit_fields(session, data, building=building, unit_id=None)
    unit = Unit(
        building_id=building.id,
        community_id=building.community_id,
        district_id=building.district_id,
        **fields,
    )
    session.add(unit)
    await session.flush()
    return unit


async def do_update_unit(session: AsyncSession, *, actor: Actor, unit_id: int, data: UnitInput) -> Unit:
    unit = await _editable_unit(session, actor, unit_id)
    building = await session.get(Building, unit.building_id)
    fields = await _unit_fields(session, data, building=building, unit_id=unit.id)
    for name, value in fields.items():
        setattr(unit, name, value)
    await session.flush()
    return unit


async def do_archive_unit(session: AsyncSession, *, actor: Actor, unit_id: int) -> Unit:
    unit = await _editable_unit(session, actor, unit_id)
    await _refuse_while_live(
        session, Household, Household.unit_id == unit.id, "A household lives in this unit."
    )
    return await _archived(session, unit)


# --- households --------------------------------------------------------------------------------------------


async def do_create_household(
    session: AsyncSession, *, actor: Actor, unit_id: int, head_name: str
) -> Household:
    unit = await _editable_unit(session, actor, unit_id)
    name = checked_text(head_name, field="headName", max_length=50)
    existing = await session.exec(select(Household.id).where(Household.unit_id == unit.id))
    _not_taken(
        existing.first() is not None, field="unitId", message="A household already lives in this unit."
    )
    household = Household(
        unit_id=unit.id, community_id=unit.community_id, district_id=unit.district_id, head_name=name
    )
    session.add(household)
    await session.flush()
    return household


async def do_update_household(
    session: AsyncSession, *, actor: Actor, household_id: int, head_name: str
) -> Household:
    household = await _editable_household(session, actor, household_id)
    household.head_name = checked_text(head_name, field="headName", max_length=50)
    await session.flush()
    return household


async def _editable_household(session: AsyncSession, actor: Actor, household_id: int) -> Household:
    household = await access_household(session, actor=actor, household_id=household_id)
    if household.archived_at is not None:
        raise NotFound()
    await editable_community(session, actor, household.community_id)
    return household


# What a household still owes or awaits lives in domains above estates (bills, work orders); each registers
# a check here that raises a LaoyouError saying what must be settled before the household may be archived.
HouseholdArchiveCheck = Callable[[AsyncSession, Household], Awaitable[None]]
_household_archive_checks: list[HouseholdArchiveCheck] = []


def household_archive_check(check: HouseholdArchiveCheck) -> HouseholdArchiveCheck:
    """Register a check that archiving a household runs first (a decorator, used at import)."""
    if check not in _household_archive_checks:
        _household_archive_checks.append(check)
    return check


async def do_archive_household(session: AsyncSession, *, actor: Actor, household_id: int) -> Household:
    """A household whose home is gone (merged, demolished) leaves the lists, the billing runs and the cards.

    A family moving out is not this: the steward takes them off and the household stays for the next one
    (the unit holds one household, archived or not).
    """
    household = await _editable_household(session, actor, household_id)
    people = await session.exec(
        select(RoleGrant.id).where(
            RoleGrant.household_id == household.id,
            col(RoleGrant.role).in_(_HOME_ROLES),
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    # Their logins would lose the home unnoticed: taking each person off is a step of its own, audited per person.
    if people.first() is not None:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "People still live in this household. Please take them off first."
        )
    for check in _household_archive_checks:
        await check(session, household)
    now = utcnow()
    # A card nobody has used yet would log someone into a home that is gone.
    await session.exec(
        update(LoginCard)
        .where(
            LoginCard.household_id == household.id,
            col(LoginCard.used_at).is_(None),
            col(LoginCard.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    household.archived_at = now
    await audit(
        session, actor=actor, action="household.archive", subject_type="household", subject_id=household.id
    )
    await session.flush()
    return household


# --- residents ---------------------------------------------------------------------------------------------


class Relation(StrEnum):
    """How a person a steward adds belongs to a home: owners and tenants live there, family follow it."""

    owner = "owner"
    tenant = "tenant"
    family = "family"


_HOME_ROLES = (Role.resident.value, Role.family.value)


async def _stewarded_household(session: AsyncSession, actor: Actor, household_id: int) -> Household:
    household = await access_household_as_steward(session, actor=actor, household_id=household_id)
    await editable_community(session, actor, household.community_id)
    return household


async def do_add_resident(
    session: AsyncSession, *, actor: Actor, household_id: int, name: str, phone: str, relation: Relation
) -> Household:
    """A steward adds a person to a home they serve; that person's first SMS login then lands in it.

    The person is found by phone or created; a name already known is kept (the person may have set it).
    """
    household = await _stewarded_household(session, actor, household_id)
    name = checked_text(name, field="name", max_length=50)
    normalised = normalise_phone(phone, field="phone")
    person = (await session.exec(select(Person).where(Person.phone == normalised))).first()
    if person is None:
        person = Person(phone=normalised, name=name)
        session.add(person)
        await session.flush()
    else:
        linked = await session.exec(
            select(RoleGrant.id).where(
                RoleGrant.person_id == person.id,
                RoleGrant.household_id == household.id,
                col(RoleGrant.role).in_(_HOME_ROLES),
                col(RoleGrant.revoked_at).is_(None),
            )
        )
        _not_taken(linked.first() is not None, field="phone", message="This person is already in this home.")
        if not person.name:
            person.name = name
            session.add(person)
    session.add(
        RoleGrant(
            person_id=person.id,
            role=(Role.family if relation is Relation.family else Role.resident).value,
            district_id=household.district_id,
            community_id=household.community_id,
            household_id=household.id,
            tenure=None if relation is Relation.family else relation.value,
        )
    )
    announce_account_changed(session, person.id)  # her open pages start hearing her new community
    await audit(
        session,
        actor=actor,
        action="resident.add",
        subject_type="household",
        subject_id=household.id,
        detail=f"person {person.id} {relation.value}",
    )
    await session.flush()
    return household


async def do_remove_resident(
    session: AsyncSession, *, actor: Actor, household_id: int, person_id: int
) -> Household:
    """A steward takes a person off a home: they lose access at once (their grant is revoked, kept for history)."""
    household = await _stewarded_household(session, actor, household_id)
    grants = list(
        await session.exec(
            select(RoleGrant).where(
                RoleGrant.person_id == person_id,
                RoleGrant.household_id == household.id,
                col(RoleGrant.role).in_(_HOME_ROLES),
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    )
    if not grants:
        raise NotFound()
    now = utcnow()
    for grant in grants:
        grant.revoked_at = now
        session.add(grant)
    announce_account_changed(session, person_id)
    await audit(
        session,
        actor=actor,
        action="resident.remove",
        subject_type="household",
        subject_id=household.id,
        detail=f"person {person_id}",
    )
    await session.flush()
    return household
