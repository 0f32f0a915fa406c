"""GraphQL types and queries for districts, communities, buildings, units and households."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from laoyou.accounts.models import Person
from laoyou.core.phone import mask_phone, national
from laoyou.estates import import_review, models, onboarding
from laoyou.estates import service as estates
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import Connection, connection, decode_id, encode_id, format_area, page_args


@strawberry.type(description="A floor area, kept in hundredths of a square metre.")
class FloorArea:
    centi_square_metres: int

    @strawberry.field(description="Square metres with two decimals, e.g. 72.35.")
    def square_metres(self) -> str:
        return format_area(self.centi_square_metres)


@strawberry.type(description="A 片区: communities pooled under one operator contract.")
class District:
    row: strawberry.Private[models.District]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def city(self) -> str:
        return self.row.city

    @strawberry.field
    def operator_name(self) -> str:
        return self.row.operator_name

    @strawberry.field(description="The district operations centre's phone number.")
    def operator_phone(self) -> str:
        return national(self.row.operator_phone)

    @strawberry.field(description="Whether the viewer may add communities to this district.")
    def can_add_communities(self, info: Info) -> bool:
        return onboarding.may_manage_communities(info.context.actor, self.row.id)

    @strawberry.field
    async def communities(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Community]:
        limit, cursor = page_args(info, first, after)
        page = await estates.list_communities(
            info.context.session, actor=info.context.actor, first=limit, after=cursor, district_id=self.row.id
        )
        return connection(page, Community)


@strawberry.type(description="A counted summary of a community.")
class CommunityStats:
    buildings: int
    units: int
    households: int
    residents: int
    floor_area: FloorArea


@strawberry.type(description="A steward serving a community; the phone is their work number.")
class Steward:
    id: strawberry.ID
    name: str
    phone: str
    on_duty: bool


@strawberry.type(description="A 小区.")
class Community:
    row: strawberry.Private[models.Community]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def address(self) -> str:
        return self.row.address

    @strawberry.field
    def built_year(self) -> int | None:
        return self.row.built_year

    @strawberry.field(description="The number the big call button dials.")
    def on_duty_phone(self) -> str:
        return national(self.row.on_duty_phone)

    @strawberry.field
    async def district(self, info: Info) -> District:
        return District(row=await info.context.loaders.district_by_id.load(self.row.district_id))

    @strawberry.field(description="The community whose team serves this one (挂单), if any.")
    async def attached_to(self, info: Info) -> Community | None:
        if self.row.attached_to_id is None:
            return None
        host = await info.context.loaders.community_by_id.load(self.row.attached_to_id)
        return Community(row=host) if host else None

    @strawberry.field(description="Micro-communities attached to this one and served by its team.")
    async def attached_communities(self, info: Info) -> list[Community]:
        return [
            Community(row=c)
            for c in await info.context.loaders.attached_communities_by_host.load(self.row.id)
        ]

    @strawberry.field
    async def stats(self, info: Info) -> CommunityStats:
        s = await info.context.loaders.community_stats_by_id.load(self.row.id)
        return CommunityStats(
            buildings=s.buildings,
            units=s.units,
            households=s.households,
            residents=s.residents,
            floor_area=FloorArea(centi_square_metres=s.floor_area_centi_m2),
        )

    @strawberry.field(description="Stewards serving this community, the one on duty first.")
    async def stewards(self, info: Info) -> list[Steward]:
        found: list[tuple[Person, bool]] = await info.context.loaders.stewards_by_community.load(self.row.id)
        return [
            Steward(id=encode_id(p.id), name=p.name, phone=national(p.phone), on_duty=on_duty)
            for p, on_duty in found
        ]

    @strawberry.field(description="Staff only.")
    async def buildings(self, info: Info) -> list[Building]:
        rows = await estates.list_buildings(
            info.context.session, actor=info.context.actor, community_id=self.row.id
        )
        return [Building(row=b) for b in rows]

    @strawberry.field(description="Staff only.")
    async def households(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        building_id: strawberry.ID | None = None,
    ) -> Connection[Household]:
        limit, cursor = page_args(info, first, after)
        page = await estates.list_households(
            info.context.session,
            actor=info.context.actor,
            community_id=self.row.id,
            first=limit,
            after=cursor,
            building_id=decode_id(building_id) if building_id is not None else None,
        )
        return connection(page, Household)


@strawberry.type
class Building:
    row: strawberry.Private[models.Building]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def floors(self) -> int:
        return self.row.floors

    @strawberry.field(description="Staff only; by number.")
    async def units(self, info: Info) -> list[Unit]:
        rows = await estates.list_units(info.context.session, actor=info.context.actor, building=self.row)
        return [Unit(row=u) for u in rows]


@strawberry.type(description="A 房屋: one flat with its floor area.")
class Unit:
    row: strawberry.Private[models.Unit]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def number(self) -> str:
        return self.row.number

    @strawberry.field
    def floor(self) -> int:
        return self.row.floor

    @strawberry.field
    def floor_area(self) -> FloorArea:
        return FloorArea(centi_square_metres=self.row.floor_area_centi_m2)

    @strawberry.field
    async def building(self, info: Info) -> Building:
        return Building(row=await info.context.loaders.building_by_id.load(self.row.building_id))

    @strawberry.field(description="The household living here, if there is one and the viewer may see it.")
    async def household(self, info: Info) -> Household | None:
        found = await info.context.loaders.household_by_unit.load(self.row.id)
        return Household(row=found) if found is not None else None


@strawberry.type(description="A person living in a household, as others see them.")
class HouseholdMember:
    id: strawberry.ID
    name: str
    masked_phone: str


@strawberry.type(description="A resident their family may call.")
class ResidentToCall:
    id: strawberry.ID
    name: str
    phone: str


@strawberry.type
class Household:
    row: strawberry.Private[models.Household]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def head_name(self) -> str:
        return self.row.head_name

    @strawberry.field
    async def unit(self, info: Info) -> Unit:
        return Unit(row=await info.context.loaders.unit_by_id.load(self.row.unit_id))

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field(description="The people living here; phones are masked.")
    async def members(self, info: Info) -> list[HouseholdMember]:
        people = await info.context.loaders.members_by_household.load(self.row.id)
        return [
            HouseholdMember(id=encode_id(p.id), name=p.name, masked_phone=mask_phone(p.phone)) for p in people
        ]

    @strawberry.field(description="The family who follow this home; phones are masked.")
    async def family(self, info: Info) -> list[HouseholdMember]:
        people = await info.context.loaders.family_by_household.load(self.row.id)
        return [
            HouseholdMember(id=encode_id(p.id), name=p.name, masked_phone=mask_phone(p.phone)) for p in people
        ]

    @strawberry.field(
        description="The residents with their numbers, head first, for the family who follow this home to "
        "call; empty for anyone else."
    )
    async def residents_to_call(self, info: Info) -> list[ResidentToCall]:
        people = await info.context.loaders.members_by_household.load(self.row.id)
        return [
            ResidentToCall(id=encode_id(p.id), name=p.name, phone=national(p.phone))
            for p in estates.residents_to_call(info.context.actor, self.row, people)
        ]

    @strawberry.field(description="The address as a person would say it.")
    async def address(self, info: Info) -> str:
        unit = await info.context.loaders.unit_by_id.load(self.row.unit_id)
        building = await info.context.loaders.building_by_id.load(unit.building_id)
        community = await info.context.loaders.community_by_id.load(self.row.community_id)
        return f"{community.name} {building.name} {unit.number}"


@strawberry.type
class EstatesQuery:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def districts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[District]:
        limit, cursor = page_args(info, first, after)
        page = await estates.list_districts(
            info.context.session, actor=info.context.actor, first=limit, after=cursor
        )
        return connection(page, District)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def district(self, info: Info, id: strawberry.ID) -> District:
        row = await estates.access_district(
            info.context.session, actor=info.context.actor, district_id=decode_id(id)
        )
        return District(row=row)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def communities(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        district_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this district's")
        ] = None,
    ) -> Connection[Community]:
        limit, cursor = page_args(info, first, after)
        page = await estates.list_communities(
            info.context.session,
            actor=info.context.actor,
            first=limit,
            after=cursor,
            district_id=decode_id(district_id) if district_id is not None else None,
        )
        return connection(page, Community)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def community(self, info: Info, id: strawberry.ID) -> Community:
        row = await estates.access_community(
            info.context.session, actor=info.context.actor, community_id=decode_id(id)
        )
        return Community(row=row)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def household(self, info: Info, id: strawberry.ID) -> Household:
        row = await estates.access_household(
            info.context.session, actor=info.context.actor, household_id=decode_id(id)
        )
        return Household(row=row)


# --- onboarding: the operator's side -----------------------------------------------------------------------


@strawberry.input
class DistrictInput:
    name: str
    city: str
    operator_name: str
    operator_phone: str = strawberry.field(description="A mobile number, e.g. 13812345678.")


@strawberry.input
class CommunityInput:
    name: str
    address: str
    on_duty_phone: str = strawberry.field(description="The number the big call button dials.")
    built_year: int | None = None
    attached_to_id: strawberry.ID | None = strawberry.field(
        default=None, description="挂单: the community of the same district whose team serves this one."
    )


@strawberry.input
class BuildingInput:
    name: str
    floors: int


@strawberry.input
class UnitInput:
    number: str = strawberry.field(description="As the door says, e.g. 1-101.")
    floor: int
    floor_area: str = strawberry.field(description="Square metres with at most two decimals, e.g. 75.50.")


EstatesError = error_type("EstatesError")


@strawberry.type
class DistrictSaved:
    district: District


@strawberry.type
class CommunitySaved:
    community: Community


@strawberry.type
class BuildingSaved:
    building: Building


@strawberry.type
class UnitSaved:
    unit: Unit


@strawberry.type
class HouseholdSaved:
    household: Household


DistrictResult = result_union("DistrictResult", DistrictSaved, EstatesError)
CommunityResult = result_union("CommunityResult", CommunitySaved, EstatesError)
BuildingResult = result_union("BuildingResult", BuildingSaved, EstatesError)
UnitResult = result_union("UnitResult", UnitSaved, EstatesError)
HouseholdResult = result_union("HouseholdResult", HouseholdSaved, EstatesError)


ResidentRelation = strawberry.enum(
    Enum("ResidentRelation", {v.name.upper(): v.value for v in onboarding.Relation}),
    description="Owners and tenants live in the home; family follow it.",
)


def _district(data: DistrictInput) -> onboarding.DistrictInput:
    return onboarding.DistrictInput(data.name, data.city, data.operator_name, data.operator_phone)


def _community(data: CommunityInput) -> onboarding.CommunityInput:
    return onboarding.CommunityInput(
        data.name,
        data.address,
        data.on_duty_phone,
        data.built_year,
        decode_id(data.attached_to_id) if data.attached_to_id is not None else None,
    )


def _building(data: BuildingInput) -> onboarding.BuildingInput:
    return onboarding.BuildingInput(data.name, data.floors)


def _unit(data: UnitInput) -> onboarding.UnitInput:
    return onboarding.UnitInput(data.number, data.floor, data.floor_area)


@strawberry.type
class EstatesMutation:
    @strawberry.mutation(permission_classes=[IsStaff], description="The operator's admin only.")
    async def create_district(self, info: Info, input: DistrictInput) -> DistrictResult:
        context = info.context

        async def work() -> DistrictSaved:
            row = await onboarding.do_create_district(
                context.session, actor=context.actor, data=_district(input)
            )
            return DistrictSaved(district=District(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="The operator's admin only.")
    async def update_district(self, info: Info, id: strawberry.ID, input: DistrictInput) -> DistrictResult:
        context = info.context

        async def work() -> DistrictSaved:
            row = await onboarding.do_update_district(
                context.session, actor=context.actor, district_id=decode_id(id), data=_district(input)
            )
            return DistrictSaved(district=District(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="The operator's admin only; once its communities are archived. Hidden from lists.",
    )
    async def archive_district(self, info: Info, id: strawberry.ID) -> DistrictResult:
        context = info.context

        async def work() -> DistrictSaved:
            row = await onboarding.do_archive_district(
                context.session, actor=context.actor, district_id=decode_id(id)
            )
            return DistrictSaved(district=District(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def create_community(
        self, info: Info, district_id: strawberry.ID, input: CommunityInput
    ) -> CommunityResult:
        context = info.context

        async def work() -> CommunitySaved:
            row = await onboarding.do_create_community(
                context.session,
                actor=context.actor,
                district_id=decode_id(district_id),
                data=_community(input),
            )
            return CommunitySaved(community=Community(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def update_community(self, info: Info, id: strawberry.ID, input: CommunityInput) -> CommunityResult:
        context = info.context

        async def work() -> CommunitySaved:
            row = await onboarding.do_update_community(
                context.session, actor=context.actor, community_id=decode_id(id), data=_community(input)
            )
            return CommunitySaved(community=Community(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Hidden from lists; what refers to it keeps working."
    )
    async def archive_community(self, info: Info, id: strawberry.ID) -> CommunityResult:
        context = info.context

        async def work() -> CommunitySaved:
            row = await onboarding.do_archive_community(
                context.session, actor=context.actor, community_id=decode_id(id)
            )
            return CommunitySaved(community=Community(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def create_building(
        self, info: Info, community_id: strawberry.ID, input: BuildingInput
    ) -> BuildingResult:
        context = info.context

        async def work() -> BuildingSaved:
            row = await onboarding.do_create_building(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                data=_building(input),
            )
            return BuildingSaved(building=Building(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def update_building(self, info: Info, id: strawberry.ID, input: BuildingInput) -> BuildingResult:
        context = info.context

        async def work() -> BuildingSaved:
            row = await onboarding.do_update_building(
                context.session, actor=context.actor, building_id=decode_id(id), data=_building(input)
            )
            return BuildingSaved(building=Building(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def archive_building(self, info: Info, id: strawberry.ID) -> BuildingResult:
        context = info.context

        async def work() -> BuildingSaved:
            row = await onboarding.do_archive_building(
                context.session, actor=context.actor, building_id=decode_id(id)
            )
            return BuildingSaved(building=Building(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def create_unit(self, info: Info, building_id: strawberry.ID, input: UnitInput) -> UnitResult:
        context = info.context

        async def work() -> UnitSaved:
            row = await onboarding.do_create_unit(
                context.session, actor=context.actor, building_id=decode_id(building_id), data=_unit(input)
            )
            return UnitSaved(unit=Unit(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def update_unit(self, info: Info, id: strawberry.ID, input: UnitInput) -> UnitResult:
        context = info.context

        async def work() -> UnitSaved:
            row = await onboarding.do_update_unit(
                context.session, actor=context.actor, unit_id=decode_id(id), data=_unit(input)
            )
            return UnitSaved(unit=Unit(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def archive_unit(self, info: Info, id: strawberry.ID) -> UnitResult:
        context = info.context

        async def work() -> UnitSaved:
            row = await onboarding.do_archive_unit(
                context.session, actor=context.actor, unit_id=decode_id(id)
            )
            return UnitSaved(unit=Unit(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def create_household(self, info: Info, unit_id: strawberry.ID, head_name: str) -> HouseholdResult:
        context = info.context

        async def work() -> HouseholdSaved:
            row = await onboarding.do_create_household(
                context.session, actor=context.actor, unit_id=decode_id(unit_id), head_name=head_name
            )
            return HouseholdSaved(household=Household(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def update_household(self, info: Info, id: strawberry.ID, head_name: str) -> HouseholdResult:
        context = info.context

        async def work() -> HouseholdSaved:
            row = await onboarding.do_update_household(
                context.session, actor=context.actor, household_id=decode_id(id), head_name=head_name
            )
            return HouseholdSaved(household=Household(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Once nobody lives there and nothing is owed or open; hidden from lists and bill runs.",
    )
    async def archive_household(self, info: Info, id: strawberry.ID) -> HouseholdResult:
        context = info.context

        async def work() -> HouseholdSaved:
            row = await onboarding.do_archive_household(
                context.session, actor=context.actor, household_id=decode_id(id)
            )
            return HouseholdSaved(household=Household(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Stewards add a person to a home they serve, found or created by phone.",
    )
    async def add_resident(
        self, info: Info, household_id: strawberry.ID, name: str, phone: str, relation: ResidentRelation
    ) -> HouseholdResult:
        context = info.context

        async def work() -> HouseholdSaved:
            row = await onboarding.do_add_resident(
                context.session,
                actor=context.actor,
                household_id=decode_id(household_id),
                name=name,
                phone=phone,
                relation=onboarding.Relation(relation.value),
            )
            return HouseholdSaved(household=Household(row=row))

        return await mutation_boundary(info, EstatesError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Stewards take a person off a home they serve."
    )
    async def remove_resident(
        self, info: Info, household_id: strawberry.ID, person_id: strawberry.ID
    ) -> HouseholdResult:
        context = info.context

        async def work() -> HouseholdSaved:
            row = await onboarding.do_remove_resident(
                context.session,
                actor=context.actor,
                household_id=decode_id(household_id),
                person_id=decode_id(person_id),
            )
            return HouseholdSaved(household=Household(row=row))

        return await mutation_boundary(info, EstatesError, work)


# --- the bulk import from the staff pages (estates.import_review) -------------------------------------------

MAX_SHOWN = 200  # rows per page of a preview

EstateImportStatus = strawberry.enum(
    Enum("EstateImportStatus", {"PENDING": "pending", "APPLIED": "applied", "DISCARDED": "discarded"}),
    description="Pending until it is confirmed (applied) or discarded.",
)
EstateImportOutcome = strawberry.enum(
    Enum(
        "EstateImportOutcome",
        {"NEW": "new", "CHANGED": "changed", "UNCHANGED": "unchanged", "ERROR": "error"},
    ),
    description="What importing a row does to the community.",
)


@strawberry.type(description="One row of an import's preview.")
class EstateImportRow:
    line: int = strawberry.field(description="The spreadsheet's row number, the heading row being 1.")
    building: str
    unit: str
    outcome: EstateImportOutcome  # type: ignore[valid-type]
    outcome_text: str = strawberry.field(description="The outcome in plain words, in the caller's language.")
    cell: str = strawberry.field(description="The cell of the mistake, e.g. D7; empty without one.")
    column: str = strawberry.field(description="The file's heading of that cell.")
    problem: str | None = strawberry.field(description="The mistake, in the caller's language.")
    changes: list[str] = strawberry.field(description="What an existing unit's row changes, in words.")


@strawberry.type(description="A spreadsheet uploaded for a community's bulk import.")
class EstateImport:
    row: strawberry.Private[models.EstateImport]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field
    def filename(self) -> str:
        return self.row.filename

    @strawberry.field
    def status(self) -> EstateImportStatus:  # type: ignore[valid-type]
        return EstateImportStatus(self.row.status)

    @strawberry.field
    def uploaded_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(description="Rows of the file, the heading row not counted.")
    def row_count(self) -> int:
        return self.row.rows

    @strawberry.field
    def new_count(self) -> int:
        return self.row.new_count

    @strawberry.field
    def changed_count(self) -> int:
        return self.row.changed_count

    @strawberry.field
    def unchanged_count(self) -> int:
        return self.row.unchanged_count

    @strawberry.field
    def error_count(self) -> int:
        return self.row.error_count

    @strawberry.field(description="Pending, without mistakes, and with something to write.")
    def can_confirm(self) -> bool:
        row = self.row
        return row.status == "pending" and not row.error_count and bool(row.new_count + row.changed_count)

    @strawberry.field(description="How many rows `rows` lists in all: every row but the unchanged.")
    def shown_count(self) -> int:
        return import_review.shown_rows(self.row)

    @strawberry.field(
        description="Mistakes first, then changes, then new units; unchanged rows are only counted."
    )
    def rows(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="At most 200.")] = 50,
        offset: int = 0,
    ) -> list[EstateImportRow]:
        found = import_review.review_rows(
            self.row,
            offset=max(offset, 0),
            limit=min(max(first, 0), MAX_SHOWN),
            language=info.context.language,
        )
        return [
            EstateImportRow(
                line=r.line,
                building=r.building,
                unit=r.unit,
                outcome=EstateImportOutcome(r.outcome),
                outcome_text=import_review.outcome_text(self.row, r.outcome, info.context.language),
                cell=r.cell,
                column=r.column,
                problem=r.problem,
                changes=r.changes,
            )
            for r in found
        ]


EstateImportError = error_type("EstateImportError")


@strawberry.type
class EstateImportSaved:
    estate_import: EstateImport


EstateImportResult = result_union("EstateImportResult", EstateImportSaved, EstateImportError)


async def _read(file: object) -> tuple[str, bytes]:
    """The upload's name and bytes, read no further than the limit; anything else (a string sent as JSON) is
    no file."""
    read = getattr(file, "read", None)
    if read is None:
        return "", b""
    return str(getattr(file, "filename", "") or ""), await read(import_review.MAX_BYTES + 1)


@strawberry.type
class EstateImportQuery:
    @strawberry.field(
        permission_classes=[IsStaff], description="The community, when the viewer may import into it."
    )
    async def estate_import_community(self, info: Info, id: strawberry.ID) -> Community:
        row = await onboarding.editable_community(info.context.session, info.context.actor, decode_id(id))
        return Community(row=row)

    @strawberry.field(permission_classes=[IsStaff], description="The community's admin or district steward.")
    async def estate_import(self, info: Info, id: strawberry.ID) -> EstateImport:
        row = await import_review.access_import(
            info.context.session, actor=info.context.actor, import_id=decode_id(id)
        )
        return EstateImport(row=row)


@strawberry.type
class EstateImportMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Read an .xlsx or .csv file of units and plan it; nothing is imported until it is confirmed.",
    )
    async def preview_estate_import(
        self, info: Info, community_id: strawberry.ID, file: Upload
    ) -> EstateImportResult:
        context = info.context

        async def work() -> EstateImportSaved:
            filename, data = await _read(file)
            row = await import_review.do_preview_import(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                filename=filename,
                data=data,
            )
            return EstateImportSaved(estate_import=EstateImport(row=row))

        return await mutation_boundary(info, EstateImportError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Plan the previewed file again against the community as it is now, and import it.",
    )
    async def confirm_estate_import(self, info: Info, id: strawberry.ID) -> EstateImportResult:
        context = info.context

        async def work() -> EstateImportSaved:
            row = await import_review.do_confirm_import(
                context.session, actor=context.actor, import_id=decode_id(id)
            )
            return EstateImportSaved(estate_import=EstateImport(row=row))

        return await mutation_boundary(info, EstateImportError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="Drop a pending import and its file.")
    async def discard_estate_import(self, info: Info, id: strawberry.ID) -> EstateImportResult:
        context = info.context

        async def work() -> EstateImportSaved:
            row = await import_review.do_discard_import(
                context.session, actor=context.actor, import_id=decode_id(id)
            )
            return EstateImportSaved(estate_import=EstateImport(row=row))

        return await mutation_boundary(info, EstateImportError, work)
