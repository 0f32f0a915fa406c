"""The count of an owners' vote (Civil Code art. 278), by area and by headcount, in exact integers.

Participation: owners holding at least 2/3 of the exclusive floor area and at least 2/3 of the owners.
Ordinary matters pass with more than 1/2 of the participating area and of the participating owners; the matters
of items 6–8 with at least 3/4 of both. Every comparison is cross-multiplied, so no rounding decides a vote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from laoyou.governance.votes.models import Choice, Outcome

__all__ = ["Cast", "Outcome", "Owner", "Tally", "count"]


@dataclass(frozen=True)
class Owner:
    household_id: int
    area: int  # hundredths of m²


@dataclass(frozen=True)
class Cast:
    household_id: int
    choice: Choice


@dataclass(frozen=True)
class Tally:
    total_area: int
    total_owners: int
    voted_area: int
    voted_owners: int
    yes_area: int
    yes_owners: int
    no_area: int
    no_owners: int
    special: bool

    @property
    def quorum(self) -> bool:
        return (
            self.total_owners > 0
            and 3 * self.voted_area >= 2 * self.total_area
            and 3 * self.voted_owners >= 2 * self.total_owners
        )

    @property
    def approved(self) -> bool:
        """The participants' approval alone, whether or not enough took part."""
        if self.special:
            return 4 * self.yes_area >= 3 * self.voted_area and 4 * self.yes_owners >= 3 * self.voted_owners
        return 2 * self.yes_area > self.voted_area and 2 * self.yes_owners > self.voted_owners

    @property
    def outcome(self) -> Outcome:
        if not self.quorum:
            return Outcome.no_quorum
        return Outcome.passed if self.approved else Outcome.rejected


def count(owners: Iterable[Owner], ballots: Iterable[Cast], *, special: bool) -> Tally:
    """Ballots of households that are no longer owners (withdrawn, archived) are not counted."""
    area_of = {owner.household_id: owner.area for owner in owners}
    voted: dict[int, Choice] = {}
    for ballot in ballots:
        if ballot.household_id in area_of:
            voted.setdefault(ballot.household_id, ballot.choice)

    def area(choice: Choice | None) -> int:
        return sum(area_of[h] for h, c in voted.items() if choice is None or c == choice)

    def heads(choice: Choice | None) -> int:
        return sum(1 for c in voted.values() if choice is None or c == choice)

    return Tally(
        total_area=sum(area_of.values()),
        total_owners=len(area_of),
        voted_area=area(None),
        voted_owners=heads(None),
        yes_area=area(Choice.yes),
        yes_owners=heads(Choice.yes),
        no_area=area(Choice.no),
        no_owners=heads(Choice.no),
        special=special,
    )
