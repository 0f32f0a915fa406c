"""GraphQL for asking to be linked to a home (the person) and confirming or declining it (the steward)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from laoyou.accounts.link_requests import models
from laoyou.accounts.link_requests import service as link_requests
from laoyou.core.phone import mask_phone
from laoyou.core.time import as_utc
from laoyou.estates import onboarding
from laoyou.estates.schema import ResidentRelation
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id

LinkRequestStatus = strawberry.enum(
    Enum("LinkRequestStatus", {v.name.upper(): v.value for v in models.LinkRequestStatus}),
    description="Waiting for the steward, confirmed, declined, or cancelled by the person who asked.",
)


@strawberry.type(description="A community a person may say they live in: its name only.")
class LinkableCommunity:
    id: strawberry.ID
    name: str


@strawberry.type(
    description="A person's request to be linked to a household, as they and its stewards see it."
)
class HouseholdLinkRequest:
    row: strawberry.Private[models.LinkRequest]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def status(self) -> LinkRequestStatus:  # type: ignore[valid-type]
        return LinkRequestStatus(self.row.status)

    @strawberry.field
    def relation(self) -> ResidentRelation:  # type: ignore[valid-type]
        return ResidentRelation(self.row.relation)

    @strawberry.field(description="The building as the person typed it.")
    def building(self) -> str:
        return self.row.building_text

    @strawberry.field(description="The unit as the person typed it.")
    def unit(self) -> str:
        return self.row.unit_text

    @strawberry.field(description="The name the person gave.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Why the steward declined, if they said.")
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(description="When it was (last) asked.")
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return as_utc(self.row.decided_at) if self.row.decided_at else None

    @strawberry.field
    async def community_name(self, info: Info) -> str:
        return (await info.context.loaders.community_by_id.load(self.row.community_id)).name

    @strawberry.field(description="The home it matched, as a person would say it.")
    async def address(self, info: Info) -> str:
        loaders = info.context.loaders
        household = await loaders.household_by_id.load(self.row.household_id)
        unit = await loaders.unit_by_id.load(household.unit_id)
        building = await loaders.building_by_id.load(unit.building_id)
        community = await loaders.community_by_id.load(self.row.community_id)
        return f"{community.name} {building.name} {unit.number}"

    @strawberry.field(description="The phone of the person who asked, masked.")
    async def masked_phone(self, info: Info) -> str:
        return mask_phone((await info.context.loaders.person_by_id.load(self.row.person_id)).phone)


LinkRequestError = error_type("LinkRequestError")


@strawberry.type
class LinkRequestSaved:
    link_request: HouseholdLinkRequest


LinkRequestResult = result_union("LinkRequestResult", LinkRequestSaved, LinkRequestError)


@strawberry.type
class LinkRequestsQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Communities by name, for a person saying where they live: a short list.",
    )
    async def linkable_communities(
        self, info: Info, search: str = "", first: int = 8
    ) -> list[LinkableCommunity]:
        rows = await link_requests.list_linkable_communities(
            info.context.session, actor=info.context.actor, search=search, first=first
        )
        return [LinkableCommunity(id=encode_id(row.id), name=row.name) for row in rows]

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="The viewer's latest request, if any."
    )
    async def my_link_request(self, info: Info) -> HouseholdLinkRequest | None:
        row = await link_requests.my_link_request(info.context.session, actor=info.context.actor)
        return HouseholdLinkRequest(row=row) if row else None

    @strawberry.field(
        permission_classes=[IsStaff],
        description="Requests waiting in the communities where the viewer may add residents, oldest first.",
    )
    async def pending_link_requests(self, info: Info) -> list[HouseholdLinkRequest]:
        rows = await link_requests.list_pending_link_requests(info.context.session, actor=info.context.actor)
        return [HouseholdLinkRequest(row=row) for row in rows]


@strawberry.type
class LinkRequestsMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ask to be linked to the household at a building and unit; asking again changes the request.",
    )
    async def request_household_link(
        self,
        info: Info,
        community_id: strawberry.ID,
        building: str,
        unit: str,
        name: str,
        relation: ResidentRelation,  # type: ignore[valid-type]
    ) -> LinkRequestResult:
        context = info.context

        async def work() -> LinkRequestSaved:
            row = await link_requests.do_request_link(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                building=building,
                unit=unit,
                name=name,
                relation=onboarding.Relation(relation.value),
            )
            return LinkRequestSaved(link_request=HouseholdLinkRequest(row=row))

        return await mutation_boundary(info, LinkRequestError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="Withdraw the viewer's waiting request."
    )
    async def cancel_my_link_request(self, info: Info) -> LinkRequestResult:
        context = info.context

        async def work() -> LinkRequestSaved:
            row = await link_requests.do_cancel_link_request(context.session, actor=context.actor)
            return LinkRequestSaved(link_request=HouseholdLinkRequest(row=row))

        return await mutation_boundary(info, LinkRequestError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Stewards confirm a request: the person is added to the home as with addResident.",
    )
    async def confirm_link_request(self, info: Info, id: strawberry.ID) -> LinkRequestResult:
        context = info.context

        async def work() -> LinkRequestSaved:
            row = await link_requests.do_confirm_link_request(
                context.session, actor=context.actor, request_id=decode_id(id)
            )
            return LinkRequestSaved(link_request=HouseholdLinkRequest(row=row))

        return await mutation_boundary(info, LinkRequestError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Stewards decline a request, with a short reason the person will read.",
    )
    async def decline_link_request(
        self, info: Info, id: strawberry.ID, reason: str = ""
    ) -> LinkRequestResult:
        context = info.context

        async def work() -> LinkRequestSaved:
            row = await link_requests.do_decline_link_request(
                context.session, actor=context.actor, request_id=decode_id(id), reason=reason
            )
            return LinkRequestSaved(link_request=HouseholdLinkRequest(row=row))

        return await mutation_boundary(info, LinkRequestError, work)
