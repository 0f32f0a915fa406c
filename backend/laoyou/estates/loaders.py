"""DataLoaders for estates, created per request so nothing leaks between actors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Community, District, Household, Unit
from laoyou.graphql.loaders import batched, rows_by_id, rows_grouped


def DistrictByIdLoader(session: AsyncSession) -> DataLoader[int, District | None]:  # noqa: N802
    return rows_by_id(session, District)


def CommunityByIdLoader(session: AsyncSession) -> DataLoader[int, Community | None]:  # noqa: N802
    return rows_by_id(session, Community)


def BuildingByIdLoader(session: AsyncSession) -> DataLoader[int, Building | None]:  # noqa: N802
    return rows_by_id(session, Building)


def UnitByIdLoader(session: AsyncSession) -> DataLoader[int, Unit | None]:  # noqa: N802
    return rows_by_id(session, Unit)


def HouseholdByIdLoader(session: AsyncSession) -> DataLoader[int, Household | None]:  # noqa: N802
    return rows_by_id(session, Household)


def HouseholdByUnitLoader(  # noqa: N802
    session: AsyncSession, actor: Callable[[], Actor]
) -> DataLoader[int, Household | None]:
    return batched(lambda ids: estates.live_households_by_unit(session, actor=actor(), unit_ids=ids))


def AttachedCommunitiesByHostLoader(session: AsyncSession) -> DataLoader[int, list[Community]]:  # noqa: N802
    return rows_grouped(session, Community, Community.attached_to_id)


def CommunityStatsByIdLoader(session: AsyncSession) -> DataLoader[int, estates.CommunityStats]:  # noqa: N802
    return batched(lambda ids: estates.community_stats(session, ids))


def StewardsByCommunityLoader(  # noqa: N802
    session: AsyncSession, communities: DataLoader[int, Community | None]
) -> DataLoader[int, list[tuple[Person, bool]]]:
    async def load(ids: Sequence[int]) -> list[list[tuple[Person, bool]]]:
        rows = [c for c in await communities.load_many(list(ids)) if c is not None]
        found = await estates.stewards_by_community(session, rows)
        return [found.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


def MembersByHouseholdLoader(  # noqa: N802
    session: AsyncSession, actor: Callable[[], Actor]
) -> DataLoader[int, list[Person]]:
    """The residents of each household; staff reads are audited for the whole batch at once."""
    return batched(lambda ids: estates.household_people_many(session, actor=actor(), household_ids=ids))


def FamilyByHouseholdLoader(  # noqa: N802
    session: AsyncSession, actor: Callable[[], Actor]
) -> DataLoader[int, list[Person]]:
    """The family who follow each household (a steward sees whom they may take off); audited like residents."""
    return batched(
        lambda ids: estates.household_people_many(session, actor=actor(), household_ids=ids, role=Role.family)
    )
