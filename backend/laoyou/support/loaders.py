"""DataLoaders for customer service: the people named in conversations, the files attached to messages and the
phones of residents who raised an SOS."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.graphql.loaders import batched, rows_by_id
from laoyou.media.models import MediaFile
from laoyou.support import service as support


def PersonByIdLoader(session: AsyncSession) -> DataLoader[int, Person | None]:  # noqa: N802
    return rows_by_id(session, Person)


def MediaFileByIdLoader(session: AsyncSession) -> DataLoader[int, MediaFile | None]:  # noqa: N802
    return rows_by_id(session, MediaFile)


def SosResidentPhoneLoader(  # noqa: N802
    session: AsyncSession, actor: Callable[[], Actor]
) -> DataLoader[int, str | None]:
    return batched(lambda ids: support.sos_resident_phones(session, actor=actor(), alert_ids=ids))
