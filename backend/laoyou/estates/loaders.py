"""DataLoaders for estates, created per request so nothing leaks between actors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Community, District, Household, Unit


def _by_id(session: AsyncSession, model: type) -> DataLoader:
    async def load(ids: Sequence[int]) -> list:
        rows = {row.id: row for row in await session.exec(select(model).where(col(model.id).in_(list(ids))))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def DistrictByIdLoader(session: AsyncSession) -> DataLoader[int, District | None]:  # noqa: N802
    return _by_id(session, District)


def CommunityByIdLoader(session: AsyncSession) -> DataLoader[int, Community | None]:  # noqa: N802
    return _by_id(session, Community)


def BuildingByIdLoader(session: AsyncSession) -> DataLoader[int, Building | None]:  # noqa: N802
    return _by_id(session, Building)


def UnitByIdLoader(session: AsyncSession) -> DataLoader[int, Unit | None]:  # noqa: N802
    return _by_id(session, Unit)


def HouseholdByIdLoader(session: AsyncSession) -> DataLoader[int, Household | None]:  # noqa: N802
    return _by_id(session, Household)


def AttachedCommunitiesByHostLoader(session: AsyncSession) -> DataLoader[int, list[Community]]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[list[Community]]:
        grouped: dict[int, list[Community]] = defaultdict(list)
        for row in await session.exec(
            select(Community).where(col(Community.attached_to_id).in_(list(ids))).order_by(Community.id)
        ):
            grouped[row.attached_to_id].append(row)
        return [grouped.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


def CommunityStatsByIdLoader(session: AsyncSession) -> DataLoader[int, estates.CommunityStats]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[estates.CommunityStats]:
        stats = await estates.community_stats(session, list(ids))
        return [stats[i] for i in ids]

    return DataLoader(load_fn=load)


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

    async def load(ids: Sequence[int]) -> list[list[Person]]:
        found = await estates.household_people_many(
            session, actor=actor(), household_ids=list(dict.fromkeys(ids))
        )
        return [found[i] for i in ids]

    return DataLoader(load_fn=load)
