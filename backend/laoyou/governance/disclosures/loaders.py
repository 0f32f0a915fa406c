"""DataLoaders for disclosures, made per request."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.governance.disclosures import service as disclosures
from laoyou.graphql.loaders import batched


def DisclosureLinesLoader(session: AsyncSession) -> DataLoader:  # noqa: N802
    return batched(lambda ids: disclosures.lines_by_disclosure(session, ids), missing=list)


def DisclosureInvoicesLoader(session: AsyncSession) -> DataLoader:  # noqa: N802
    return batched(lambda ids: disclosures.invoices_by_line(session, ids), missing=list)
