"""DataLoaders for owners' votes, made per request: a list of votes costs what one vote costs.

The keys are the vote rows the list (or the vote) already read, scoped by the service; what each vote shows the
viewer (its count, their ballots, the owners for the steward) is decided by the service for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from laoyou.accounts.actor import Actor
from laoyou.governance.votes import service as votes
from laoyou.graphql.loaders import batched_rows


def VoteTallyByVoteLoader(session: AsyncSession, actor: Callable[[], Actor]) -> DataLoader:  # noqa: N802
    return batched_rows(lambda rows: votes.visible_tallies(session, actor=actor(), votes=rows))


def MyBallotsByVoteLoader(session: AsyncSession, actor: Callable[[], Actor]) -> DataLoader:  # noqa: N802
    return batched_rows(lambda rows: votes.my_ballots(session, actor=actor(), votes=rows))


def VoteHouseholdsByVoteLoader(session: AsyncSession, actor: Callable[[], Actor]) -> DataLoader:  # noqa: N802
    return batched_rows(lambda rows: votes.household_votes(session, actor=actor(), votes=rows))
