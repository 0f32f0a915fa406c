"""GraphQL for login cards printed for a building or a whole community."""

from __future__ import annotations

from typing import Annotated

import strawberry

from laoyou.accounts.card_batches import service as batches
from laoyou.accounts.schema import LoginCardError, LoginCardIssued, card_issued
from laoyou.estates.schema import Building, Community, Household
from laoyou.graphql.context import Info
from laoyou.graphql.errors import mutation_boundary
from laoyou.graphql.permissions import IsStaff
from laoyou.graphql.types import decode_id


@strawberry.type(description="A card that would be printed: the household and whose it is.")
class PlannedLoginCard:
    household: Household
    person_name: str
    address: str


@strawberry.type(description="Households that would be skipped: nobody lives there yet.")
class SkippedHousehold:
    household: Household
    address: str


@strawberry.type(description="Who would get a login card in a building or a whole community.")
class LoginCardPlan:
    community: Community
    building: Building | None
    cards: list[PlannedLoginCard]
    skipped: list[SkippedHousehold]


@strawberry.type
class LoginCardsIssued:
    cards: list[LoginCardIssued]
    skipped: list[SkippedHousehold]


IssueLoginCardsResult = Annotated[
    LoginCardsIssued | LoginCardError, strawberry.union("IssueLoginCardsResult")
]


def _skipped(plan: batches.CardPlan) -> list[SkippedHousehold]:
    return [SkippedHousehold(household=Household(row=p.household), address=p.address) for p in plan.skipped]


@strawberry.type
class CardBatchQuery:
    @strawberry.field(
        permission_classes=[IsStaff],
        description="Stewards: one card a household (its head, or its first resident), before printing.",
    )
    async def login_card_plan(
        self, info: Info, community_id: strawberry.ID, building_id: strawberry.ID | None = None
    ) -> LoginCardPlan:
        plan = await batches.plan_login_cards(
            info.context.session,
            actor=info.context.actor,
            community_id=decode_id(community_id),
            building_id=decode_id(building_id) if building_id is not None else None,
        )
        return LoginCardPlan(
            community=Community(row=plan.community),
            building=Building(row=plan.building) if plan.building else None,
            cards=[
                PlannedLoginCard(
                    household=Household(row=p.household), person_name=p.person.name, address=p.address
                )
                for p in plan.cards
            ],
            skipped=_skipped(plan),
        )


@strawberry.type
class CardBatchMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Print the cards of a building or community at once; earlier unused cards stop working.",
    )
    async def issue_login_cards(
        self, info: Info, community_id: strawberry.ID, building_id: strawberry.ID | None = None
    ) -> IssueLoginCardsResult:
        context = info.context

        async def work() -> LoginCardsIssued:
            plan, issued = await batches.do_issue_login_cards(
                context.session,
                settings=context.settings,
                actor=context.actor,
                community_id=decode_id(community_id),
                building_id=decode_id(building_id) if building_id is not None else None,
            )
            return LoginCardsIssued(
                cards=[
                    card_issued(
                        info, i.card, i.token, person_name=i.planned.person.name, address=i.planned.address
                    )
                    for i in issued
                ],
                skipped=_skipped(plan),
            )

        return await mutation_boundary(info, LoginCardError, work)
