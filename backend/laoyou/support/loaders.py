"""DataLoaders for customer service: the people named in conversations and the files attached to messages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.models import Person
from laoyou.media.models import MediaFile


def _by_id(session: AsyncSession, model: type) -> DataLoader:
    async def load(ids: Sequence[int]) -> list:
        rows = {row.id: row for row in await session.exec(select(model).where(col(model.id).in_(list(ids))))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def PersonByIdLoader(session: AsyncSession) -> DataLoader[int, Person | None]:  # noqa: N802
    return _by_id(session, Person)


def MediaFileByIdLoader(session: AsyncSession) -> DataLoader[int, MediaFile | None]:  # noqa: N802
    return _by_id(session, MediaFile)
