"""DataLoaders for briefings, made per request."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.briefings import service as briefings
from laoyou.graphql.loaders import batched


def BriefingMediaByBriefingLoader(session: AsyncSession) -> DataLoader:  # noqa: N802
    return batched(lambda ids: briefings.media_by_briefing(session, ids))


def BriefingAudienceByBriefingLoader(session: AsyncSession) -> DataLoader:  # noqa: N802
    return batched(lambda ids: briefings.audience_by_briefing(session, ids))


def BriefingMarksByPersonLoader(session: AsyncSession) -> DataLoader:  # noqa: N802
    """Keys are (person_id, briefing_id); answers (read, thanked)."""

    async def load(keys: Sequence[tuple[int, int]]) -> list[tuple[bool, bool]]:
        answers: dict[tuple[int, int], tuple[bool, bool]] = {}
        for person_id in {p for p, _ in keys}:
            ids = [b for p, b in keys if p == person_id]
            read, thanked = await briefings.viewer_marks(session, person_id=person_id, briefing_ids=ids)
            for b in ids:
                answers[(person_id, b)] = (b in read, b in thanked)
        return [answers[k] for k in keys]

    return DataLoader(load_fn=load)
