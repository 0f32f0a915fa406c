"""DataLoaders for customer service: the people named in conversations and the files attached to messages."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.models import Person
from laoyou.graphql.loaders import rows_by_id
from laoyou.media.models import MediaFile


def PersonByIdLoader(session: AsyncSession) -> DataLoader[int, Person | None]:  # noqa: N802
    return rows_by_id(session, Person)


def MediaFileByIdLoader(session: AsyncSession) -> DataLoader[int, MediaFile | None]:  # noqa: N802
    return rows_by_id(session, MediaFile)
