"""DataLoaders for billing, created per request."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.models import Person
from laoyou.billing.models import Bill, FeePlan, FeePlanItem, Payment, Refund
from laoyou.billing.service.payments import waiting_payments_by_household
from laoyou.graphql.loaders import batched, rows_by_id, rows_grouped


def BillByIdLoader(session: AsyncSession) -> DataLoader[int, Bill | None]:  # noqa: N802
    return rows_by_id(session, Bill)


def FeePlanByIdLoader(session: AsyncSession) -> DataLoader[int, FeePlan | None]:  # noqa: N802
    return rows_by_id(session, FeePlan)


def FeePlanItemsByPlanLoader(session: AsyncSession) -> DataLoader[int, list[FeePlanItem]]:  # noqa: N802
    return rows_grouped(session, FeePlanItem, FeePlanItem.plan_id)


def RefundsByPaymentLoader(session: AsyncSession) -> DataLoader[int, list[Refund]]:  # noqa: N802
    return rows_grouped(session, Refund, Refund.payment_id)


def WaitingPaymentsByHouseholdLoader(session: AsyncSession) -> DataLoader[int, list[Payment]]:  # noqa: N802
    async def fetch(ids: list[int]) -> dict[int, list[Payment]]:
        return await waiting_payments_by_household(session, ids)

    return batched(fetch, missing=list)


def PersonNameByIdLoader(session: AsyncSession) -> DataLoader[int, str]:  # noqa: N802
    async def names(ids: list[int]) -> dict[int, str]:
        return dict((await session.exec(select(Person.id, Person.name).where(col(Person.id).in_(ids)))).all())

    return batched(names, missing=str)
