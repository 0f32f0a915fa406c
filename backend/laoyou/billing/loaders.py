"""DataLoaders for billing, created per request."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.models import Person
from laoyou.billing.models import Bill, FeePlan, FeePlanItem


def BillByIdLoader(session: AsyncSession) -> DataLoader[int, Bill | None]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[Bill | None]:
        rows = {b.id: b for b in await session.exec(select(Bill).where(col(Bill.id).in_(list(ids))))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def FeePlanByIdLoader(session: AsyncSession) -> DataLoader[int, FeePlan | None]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[FeePlan | None]:
        rows = {p.id: p for p in await session.exec(select(FeePlan).where(col(FeePlan.id).in_(list(ids))))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def FeePlanItemsByPlanLoader(session: AsyncSession) -> DataLoader[int, list[FeePlanItem]]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[list[FeePlanItem]]:
        grouped: dict[int, list[FeePlanItem]] = defaultdict(list)
        for item in await session.exec(
            select(FeePlanItem).where(col(FeePlanItem.plan_id).in_(list(ids))).order_by(FeePlanItem.id)
        ):
            grouped[item.plan_id].append(item)
        return [grouped.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


def PersonNameByIdLoader(session: AsyncSession) -> DataLoader[int, str]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[str]:
        rows = {p.id: p.name for p in await session.exec(select(Person).where(col(Person.id).in_(list(ids))))}
        return [rows.get(i, "") for i in ids]

    return DataLoader(load_fn=load)
