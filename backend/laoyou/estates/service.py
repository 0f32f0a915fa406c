"""Estates: what each role may see of districts, communities, buildings, units and households."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, Subquery, cast, false, func, null, or_, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit_many
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.errors import NotFound, PermissionDenied
from laoyou.core.pagination import Page
from laoyou.estates.models import Building, Community, District, Household, Unit

STAFF_ROLES = (Role.steward, Role.field_staff, Role.agent, Role.official)


def staff_community_filter(actor: Actor) -> ColumnElement[bool] | None:
    """The communities the actor serves or oversees as staff, as a condition on Community; None means all.

    District grants cover the district's communities; a community grant also covers the
    micro-communities attached to it (挂单), since its team serves them.
    """
    if actor.is_admin:
        return None
    grants = actor.grants_of(*STAFF_ROLES)
    district_ids = {g.district_id for g in grants if g.community_id is None and g.district_id}
    community_ids = {g.community_id for g in grants if g.community_id}
    conditions = []
    if community_ids:
        conditions += [col(Community.id).in_(community_ids), col(Community.attached_to_id).in_(community_ids)]
    if district_ids:
        conditions.append(col(Community.district_id).in_(district_ids))
    return or_(*conditions) if conditions else false()


async def staff_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    """Communities the actor serves or oversees as staff (see staff_community_filter); None means every one."""
    if actor._staff_communities_loaded:
        return actor._staff_communities
    condition = staff_community_filter(actor)
    result: set[int] | None = None
    if condition is not None:
        result = set(await session.exec(select(Community.id).where(condition))) if actor.is_staff else set()
    actor._staff_communities = result
    actor._staff_communities_loaded = True
    return result


async def list_staff_communities(session: AsyncSession, *, actor: Actor, first: int) -> list[Community]:
    """The communities of a staff member's home page, in one query whatever their number."""
    if not actor.is_staff:
        return []
    query = select(Community).where(col(Community.archived_at).is_(None)).order_by(Community.id).limit(first)
    condition = staff_community_filter(actor)
    if condition is not None:
        query = query.where(condition)
    return list(await session.exec(query))


async def resident_community_ids(session: AsyncSession, actor: Actor) -> set[int]:
    return {g.community_id for g in actor.grants_of(Role.resident, Role.family) if g.community_id}


async def visible_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    staff = await staff_community_ids(session, actor)
    if staff is None:
        return None
    return staff | await resident_community_ids(session, actor)


def _require_staff(actor: Actor) -> None:
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()


# --- districts ----------------------------------------------------------------------------------------


async def visible_district_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    communities = await visible_community_ids(session, actor)
    if communities is None:
        return None
    ids = {g.district_id for g in actor.grants if g.district_id}
    if communities:
        rows = await session.exec(select(Community.district_id).where(col(Community.id).in_(communities)))
        ids.update(rows)
    return ids


async def access_district(session: AsyncSession, *, actor: Actor, district_id: int) -> District:
    actor.require_login()
    visible = await visible_district_ids(session, actor)
    if visible is not None and district_id not in visible:
        raise NotFound()
    district = await session.get(District, district_id)
    if district is None:
        raise NotFound()
    return district


async def list_districts(
    session: AsyncSession, *, actor: Actor, first: int, after: int | None
) -> Page[District]:
    actor.require_login()
    visible = await visible_district_ids(session, actor)
    query = select(District).where(col(District.archived_at).is_(None)).order_by(District.id)
    if visible is not None:
        query = query.where(col(District.id).in_(visible))
    if after is not None:
        query = query.where(District.id > after)
    rows = list(await session.exec(query.limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


# --- communities --------------------------------------------------------------------------------------


async def access_community(session: AsyncSession, *, actor: Actor, community_id: int) -> Community:
    actor.require_login()
    visible = await visible_community_ids(session, actor)
    if visible is not None and community_id not in visible:
        raise NotFound()
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound()
    return community


async def list_communities(
    session: AsyncSession, *, actor: Actor, first: int, after: int | None, district_id: int | None = None
) -> Page[Community]:
    actor.require_login()
    visible = await visible_community_ids(session, actor)
    query = select(Community).where(col(Community.archived_at).is_(None)).order_by(Community.id)
    if visible is not None:
        query = query.where(col(Community.id).in_(visible))
    if district_id is not None:
        query = query.where(Community.district_id == district_id)
    if after is not None:
        query = query.where(Community.id > after)
    rows = list(await session.exec(query.limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


@dataclass
class CommunityStats:
    community_id: int
    buildings: int = 0
    units: int = 0
    households: int = 0
    residents: int = 0
    floor_area_centi_m2: int = 0


async def community_stats(session: AsyncSession, community_ids: list[int]) -> dict[int, CommunityStats]:
    """Counts for many communities in four grouped queries (loaders call this)."""
    stats = {cid: CommunityStats(cid) for cid in community_ids}
    if not community_ids:
        return stats
    for cid, count in await session.exec(
        select(Building.community_id, func.count())
        .where(col(Building.community_id).in_(community_ids), col(Building.archived_at).is_(None))
        .group_by(Building.community_id)
    ):
        stats[cid].buildings = count
    for cid, count, area in await session.exec(
        select(Unit.community_id, func.count(), func.coalesce(func.sum(Unit.floor_area_centi_m2), 0))
        .where(col(Unit.community_id).in_(community_ids), col(Unit.archived_at).is_(None))
        .group_by(Unit.community_id)
    ):
        stats[cid].units = count
        stats[cid].floor_area_centi_m2 = int(area)
    for cid, count in await session.exec(
        select(Household.community_id, func.count())
        .where(col(Household.community_id).in_(community_ids), col(Household.archived_at).is_(None))
        .group_by(Household.community_id)
    ):
        stats[cid].households = count
    for cid, count in await session.exec(
        select(RoleGrant.community_id, func.count(func.distinct(RoleGrant.person_id)))
        .where(
            col(RoleGrant.community_id).in_(community_ids),
            RoleGrant.role == Role.resident.value,
            col(RoleGrant.revoked_at).is_(None),
        )
        .group_by(RoleGrant.community_id)
    ):
        stats[cid].residents = count
    return stats


async def stewards_by_community(
    session: AsyncSession, communities: list[Community]
) -> dict[int, list[tuple[Person, bool]]]:
    """The stewards serving each community, on-duty first: community grants, the host's (挂单) and district-wide."""
    result: dict[int, list[tuple[Person, bool]]] = {c.id: [] for c in communities}
    if not communities:
        return result
    communities = {c.id: c for c in communities}
    served_by = {cid: {cid, c.attached_to_id} - {None} for cid, c in communities.items()}
    wanted = set().union(*served_by.values()) if served_by else set()
    district_ids = {c.district_id for c in communities.values()}
    rows = await session.exec(
        select(RoleGrant, Person)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(
            RoleGrant.role == Role.steward.value,
            col(RoleGrant.revoked_at).is_(None),
            col(Person.is_active).is_(True),
            (col(RoleGrant.community_id).in_(wanted))
            | (col(RoleGrant.community_id).is_(None) & col(RoleGrant.district_id).in_(district_ids)),
        )
        .order_by(col(RoleGrant.on_duty).desc(), RoleGrant.id)
    )
    grants = list(rows)
    for cid, community in communities.items():
        seen: set[int] = set()
        # Community stewards first, then district-wide stewards.
        for grant, person in sorted(grants, key=lambda gp: (gp[0].community_id is None, not gp[0].on_duty)):
            matches = grant.community_id in served_by[cid] or (
                grant.community_id is None and grant.district_id == community.district_id
            )
            if matches and person.id not in seen:
                seen.add(person.id)
                result[cid].append((person, grant.on_duty))
    return result


# --- buildings, units, households ---------------------------------------------------------------------


async def list_buildings(session: AsyncSession, *, actor: Actor, community_id: int) -> list[Building]:
    _require_staff(actor)
    await access_community(session, actor=actor, community_id=community_id)
    return list(
        await session.exec(
            select(Building)
            .where(Building.community_id == community_id, col(Building.archived_at).is_(None))
            .order_by(Building.id)
        )
    )


async def list_units(session: AsyncSession, *, actor: Actor, building: Building) -> list[Unit]:
    """The units of a building the actor has already been given (through list_buildings), by number."""
    _require_staff(actor)
    return list(
        await session.exec(
            select(Unit)
            .where(Unit.building_id == building.id, col(Unit.archived_at).is_(None))
            .order_by(Unit.number)
        )
    )


async def list_households(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    first: int,
    after: int | None,
    building_id: int | None = None,
) -> Page[Household]:
    """Staff of the community page through its households."""
    _require_staff(actor)
    staff = await staff_community_ids(session, actor)
    if staff is not None and community_id not in staff:
        raise NotFound()
    query = (
        select(Household)
        .where(Household.community_id == community_id, col(Household.archived_at).is_(None))
        .order_by(Household.id)
    )
    if building_id is not None:
        query = query.join(Unit, Unit.id == Household.unit_id).where(Unit.building_id == building_id)
    if after is not None:
        query = query.where(Household.id > after)
    rows = list(await session.exec(query.limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


async def access_household(session: AsyncSession, *, actor: Actor, household_id: int) -> Household:
    """Residents and family see their own household; staff see the households of communities they serve."""
    actor.require_login()
    household = await session.get(Household, household_id)
    if household is None:
        raise NotFound()
    if household_id in actor.household_ids:
        return household
    staff = await staff_community_ids(session, actor)
    if staff is None or household.community_id in staff:
        return household
    raise NotFound()


async def live_households_by_unit(
    session: AsyncSession, *, actor: Actor, unit_ids: list[int]
) -> dict[int, Household]:
    """The live household of each unit, for the units whose household the actor may see (access_household's rule,
    for a batch): residents and family their own, staff those of the communities they serve."""
    if not actor.is_authenticated:
        return {}
    staff = await staff_community_ids(session, actor)
    found = await session.exec(
        select(Household).where(col(Household.unit_id).in_(unit_ids), col(Household.archived_at).is_(None))
    )
    return {
        h.unit_id: h
        for h in found
        if h.id in actor.household_ids or (actor.is_staff and (staff is None or h.community_id in staff))
    }


async def access_household_as_steward(session: AsyncSession, *, actor: Actor, household_id: int) -> Household:
    """Stewards and the admin act on households (print login cards); officials and field staff only read."""
    household = await access_household(session, actor=actor, household_id=household_id)
    if not actor.has(Role.steward, Role.admin):
        raise PermissionDenied()
    # An archived household is history: nobody is added to it and no card is printed for it.
    if household.archived_at is not None:
        raise NotFound()
    if household_id in actor.household_ids and not actor.is_staff:
        raise PermissionDenied()
    return household


async def my_households(
    session: AsyncSession, *, actor: Actor
) -> list[tuple[Household, Unit, Building, Community, District]]:
    """The viewer's households with their place, in one joined query (the home page needs all of it)."""
    if not actor.household_ids:
        return []
    rows = await session.exec(
        select(Household, Unit, Building, Community, District)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Community, Community.id == Household.community_id)
        .join(District, District.id == Community.district_id)
        .where(col(Household.id).in_(actor.household_ids))
        .order_by(Household.id)
    )
    return list(rows)


@dataclass(frozen=True)
class OwnerShare:
    """A live household of a community with its exclusive floor area: one owner in an owners' vote."""

    household_id: int
    floor_area_centi_m2: int
    building: str
    unit: str


async def owner_shares(session: AsyncSession, community_ids: list[int]) -> dict[int, list[OwnerShare]]:
    """Every live household of each community with its unit's floor area, in one query however many
    communities (a district's votes are counted together). Not scoped: the caller (governance's votes) has
    already checked who may see the communities."""
    found: dict[int, list[OwnerShare]] = {c: [] for c in community_ids}
    if not community_ids:
        return found
    rows = await session.exec(
        select(Household.community_id, Household.id, Unit.floor_area_centi_m2, Building.name, Unit.number)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(col(Household.community_id).in_(community_ids), col(Household.archived_at).is_(None))
        .order_by(Building.name, Unit.number)
    )
    for community_id, *share in rows:
        found[community_id].append(OwnerShare(*share))
    return found


async def homes_of_people(
    session: AsyncSession, community_id: int, person_ids: list[int]
) -> dict[int, list[str]]:
    """Each person's flats in the community (living there or following them), as a steward says them: building
    and unit, in one query. Not scoped: the caller has checked who may see the community's people."""
    homes: dict[int, list[str]] = {}
    for begin in range(0, len(person_ids), 1000):
        rows = await session.exec(
            select(RoleGrant.person_id, Building.name, Unit.number)
            .join(Household, col(Household.id) == RoleGrant.household_id)
            .join(Unit, col(Unit.id) == Household.unit_id)
            .join(Building, col(Building.id) == Unit.building_id)
            .where(
                col(RoleGrant.person_id).in_(person_ids[begin : begin + 1000]),
                RoleGrant.community_id == community_id,
                col(RoleGrant.role).in_([Role.resident.value, Role.family.value]),
                col(RoleGrant.revoked_at).is_(None),
            )
            .order_by(Building.name, Unit.number)
        )
        for person_id, building, unit in rows:
            home = f"{building} {unit}"
            if home not in homes.setdefault(person_id, []):
                homes[person_id].append(home)
    return homes


def people_by_building(community_id: int) -> Subquery:
    """Everyone living in the community or following one of its households, once per building she has a flat
    in (person_id, building, unit: the building's name and her first flat in it), and once with building and
    unit NULL when she has no flat on record. A subquery for the callers' own joins and counts: a steward
    walking one building knocks on every door of it, so a person with flats in two is in both. Not scoped:
    the caller has checked who may see the community's people."""
    live = (
        RoleGrant.community_id == community_id,
        col(RoleGrant.role).in_([Role.resident.value, Role.family.value]),
        col(RoleGrant.revoked_at).is_(None),
    )
    housed = (
        select(
            col(RoleGrant.person_id).label("person_id"),
            col(Building.name).label("building"),
            func.min(Unit.number).label("unit"),
        )
        .join(Household, col(Household.id) == RoleGrant.household_id)
        .join(Unit, col(Unit.id) == Household.unit_id)
        .join(Building, col(Building.id) == Unit.building_id)
        .where(*live)
        .group_by(RoleGrant.person_id, Building.name)
    )
    with_a_flat = select(housed.subquery().c.person_id)
    unhoused = (
        select(
            col(RoleGrant.person_id).label("person_id"),
            cast(null(), String).label("building"),
            cast(null(), String).label("unit"),
        )
        .where(*live, col(RoleGrant.person_id).not_in(with_a_flat))
        .distinct()
    )
    return union(housed, unhoused).subquery("people_by_building")


async def residents_by_household(
    session: AsyncSession, household_ids: list[int], role: Role = Role.resident
) -> dict[int, list[Person]]:
    """The residents (or the family) of many households in one query (loaders call this)."""
    found: dict[int, list[Person]] = {hid: [] for hid in household_ids}
    if not household_ids:
        return found
    rows = await session.exec(
        select(RoleGrant.household_id, Person)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(
            col(RoleGrant.household_id).in_(household_ids),
            RoleGrant.role == role.value,
            col(RoleGrant.revoked_at).is_(None),
        )
        .order_by(Person.id)
    )
    for household_id, person in rows:
        found[household_id].append(person)
    return found


async def household_people(session: AsyncSession, *, actor: Actor, household: Household) -> list[Person]:
    """The residents of a household the actor has already been given; staff reading them is logged."""
    return (await household_people_many(session, actor=actor, household_ids=[household.id]))[household.id]


def residents_to_call(actor: Actor, household: Household, residents: list[Person]) -> list[Person]:
    """The residents of a household whose whole numbers the actor may call, the head first: all of them for
    the family who follow it (calling their parent is what they follow it for), none for anyone else, who
    sees them masked."""
    followed = {g.household_id for g in actor.grants_of(Role.family)}
    if household.id not in followed:
        return []
    return sorted(residents, key=lambda person: person.name != household.head_name)


async def household_people_many(
    session: AsyncSession, *, actor: Actor, household_ids: list[int], role: Role = Role.resident
) -> dict[int, list[Person]]:
    """The residents (or the family) of households the actor has already been given, in one query.

    Staff reading other people's households is logged, one audit line per household, written together.
    """
    people = await residents_by_household(session, household_ids, role)
    others = [household_id for household_id in household_ids if household_id not in actor.household_ids]
    await audit_many(
        session,
        actor=actor,
        action="household.read_people",
        subject_type="household",
        subject_ids=others,
        reading=True,
    )
    return people


async def district_community_ids(session: AsyncSession, district_id: int) -> list[int]:
    """Every live community of a district, unscoped: what a district-wide cost is shared among (the caller
    decides what the actor may see of them)."""
    return list(
        await session.exec(
            select(Community.id)
            .where(Community.district_id == district_id, col(Community.archived_at).is_(None))
            .order_by(Community.id)
        )
    )
