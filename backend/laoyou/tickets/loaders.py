"""DataLoaders for work orders: attachments, timelines and the people named on them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.models import Person
from laoyou.graphql.loaders import batched, rows_by_id
from laoyou.media.models import MediaFile
from laoyou.tickets import service as tickets
from laoyou.tickets.models import TicketAttachment, WorkOrderEvent


def AttachmentsByWorkOrderLoader(
    session: AsyncSession,
) -> DataLoader[int, list[tuple[TicketAttachment, MediaFile]]]:  # noqa: N802
    async def load(ids: Sequence[int]) -> list[list[tuple[TicketAttachment, MediaFile]]]:
        grouped: dict[int, list] = defaultdict(list)
        for attachment, media in await session.exec(
            select(TicketAttachment, MediaFile)
            .join(MediaFile, MediaFile.id == TicketAttachment.media_file_id)
            .where(col(TicketAttachment.work_order_id).in_(list(ids)))
            .order_by(TicketAttachment.id)
        ):
            grouped[attachment.work_order_id].append((attachment, media))
        return [grouped.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


def EventsByWorkOrderLoader(session: AsyncSession) -> DataLoader[int, list[WorkOrderEvent]]:  # noqa: N802
    return batched(lambda ids: tickets.events_for(session, ids), missing=list)


def TicketPersonByIdLoader(session: AsyncSession) -> DataLoader[int, Person | None]:  # noqa: N802
    return rows_by_id(session, Person)
