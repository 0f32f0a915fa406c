"""GraphQL for owners' votes: the votes a person sees, the live count for officials, ballots and certification."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from fractions import Fraction

import strawberry

from laoyou.estates.schema import Community
from laoyou.estates.service import OwnerShare
from laoyou.governance.votes import counting
from laoyou.governance.votes import service as votes
from laoyou.governance.votes.models import Ballot as BallotRow
from laoyou.governance.votes.models import Choice, Matter
from laoyou.governance.votes.models import Vote as VoteRow
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import Connection, connection, decode_id, encode_id, format_area, page_args

VoteMatter = strawberry.enum(Enum("VoteMatter", {m.name.upper(): m.value for m in Matter}))
VoteChoice = strawberry.enum(Enum("VoteChoice", {c.name.upper(): c.value for c in Choice}))
VoteOutcome = strawberry.enum(Enum("VoteOutcome", {o.name.upper(): o.value for o in counting.Outcome}))


@strawberry.enum
class VoteStatus(Enum):
    OPEN = "open"
    COUNTING = "counting"  # past the deadline, waiting for an official's certification
    CERTIFIED = "certified"


def _percent(part: int, whole: int) -> str:
    """For reading only, one decimal; the decision itself is counted in integers (counting.py)."""
    if whole == 0:
        return "0.0%"
    tenths = round(Fraction(part * 1000, whole))
    return f"{tenths // 10}.{tenths % 10}%"


@strawberry.type(
    description="The count by area (m²) and by headcount, participation and approval side by side."
)
class VoteTally:
    tally: strawberry.Private[counting.Tally]

    @strawberry.field
    def total_area_m2(self) -> str:
        return format_area(self.tally.total_area)

    @strawberry.field
    def voted_area_m2(self) -> str:
        return format_area(self.tally.voted_area)

    @strawberry.field
    def yes_area_m2(self) -> str:
        return format_area(self.tally.yes_area)

    @strawberry.field
    def no_area_m2(self) -> str:
        return format_area(self.tally.no_area)

    @strawberry.field
    def total_owners(self) -> int:
        return self.tally.total_owners

    @strawberry.field
    def voted_owners(self) -> int:
        return self.tally.voted_owners

    @strawberry.field
    def yes_owners(self) -> int:
        return self.tally.yes_owners

    @strawberry.field
    def no_owners(self) -> int:
        return self.tally.no_owners

    @strawberry.field(description="Share of the whole community's area that took part.")
    def participation_area(self) -> str:
        return _percent(self.tally.voted_area, self.tally.total_area)

    @strawberry.field(description="Share of all owners who took part.")
    def participation_owners(self) -> str:
        return _percent(self.tally.voted_owners, self.tally.total_owners)

    @strawberry.field(description="Share of the participating area that agreed.")
    def approval_area(self) -> str:
        return _percent(self.tally.yes_area, self.tally.voted_area)

    @strawberry.field(description="Share of the participating owners who agreed.")
    def approval_owners(self) -> str:
        return _percent(self.tally.yes_owners, self.tally.voted_owners)

    @strawberry.field
    def quorum(self) -> bool:
        return self.tally.quorum

    @strawberry.field
    def approved(self) -> bool:
        return self.tally.approved

    @strawberry.field(description="What the count gives now (or gave, once certified).")
    def outcome(self) -> VoteOutcome:  # type: ignore[valid-type]
        return VoteOutcome(self.tally.outcome.value)


@strawberry.type(description="A household's ballot as its own people see it.")
class MyVoteBallot:
    household_id: strawberry.ID
    choice: VoteChoice | None  # type: ignore[valid-type]
    on_paper: bool


@strawberry.type(description="One owner in the steward's list, with the ballot's channel if it voted.")
class VoteHousehold:
    share: strawberry.Private[OwnerShare]
    ballot: strawberry.Private[BallotRow | None]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.share.household_id)

    @strawberry.field
    def label(self) -> str:
        return f"{self.share.building} {self.share.unit}"

    @strawberry.field
    def area_m2(self) -> str:
        return format_area(self.share.floor_area_centi_m2)

    @strawberry.field(description="online, paper, or null when it has not voted.")
    def channel(self) -> str | None:
        return self.ballot.channel if self.ballot else None


@strawberry.type
class Vote:
    row: strawberry.Private[VoteRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def matter(self) -> VoteMatter:  # type: ignore[valid-type]
        return VoteMatter(self.row.matter)

    @strawberry.field(description="Items 6–8 of art. 278: three quarters needed instead of more than half.")
    def special(self) -> bool:
        return Matter(self.row.matter).special

    @strawberry.field
    def package(self) -> str:
        return self.row.package

    @strawberry.field
    def deadline(self) -> datetime:
        return self.row.deadline

    @strawberry.field
    def status(self) -> VoteStatus:
        return VoteStatus(votes.status(self.row))

    @strawberry.field
    def certified_at(self) -> datetime | None:
        return self.row.certified_at

    @strawberry.field
    def outcome(self) -> VoteOutcome | None:  # type: ignore[valid-type]
        return VoteOutcome(self.row.outcome) if self.row.outcome else None

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field(
        description="The count: live for the community's officials and stewards; once certified, for all."
    )
    async def tally(self, info: Info) -> VoteTally | None:
        found = await info.context.loaders.vote_tally.load(self.row)
        return VoteTally(tally=found) if found is not None else None

    @strawberry.field(description="The viewer's households that may vote, with their ballot if cast.")
    async def my_ballots(self, info: Info) -> list[MyVoteBallot]:
        return [
            MyVoteBallot(
                household_id=encode_id(household_id),
                choice=VoteChoice(ballot.choice) if ballot else None,
                on_paper=ballot is not None and ballot.channel == "paper",
            )
            for household_id, ballot in await info.context.loaders.my_vote_ballots.load(self.row)
        ]

    @strawberry.field(
        description="Every owner and whether it voted: for the community's officials and stewards."
    )
    async def households(self, info: Info) -> list[VoteHousehold] | None:
        found = await info.context.loaders.vote_households.load(self.row)
        return None if found is None else [VoteHousehold(share=h.share, ballot=h.ballot) for h in found]


@strawberry.input
class ProposeVoteInput:
    community_id: strawberry.ID
    title: str
    body: str
    matter: VoteMatter  # type: ignore[valid-type]
    deadline: datetime
    fee_plan_id: strawberry.ID | None = None
    package: str = ""


@strawberry.type
class VoteSaved:
    vote: Vote


ProposeVoteError = error_type("ProposeVoteError")
ProposeVoteResult = result_union("ProposeVoteResult", VoteSaved, ProposeVoteError)
CastBallotError = error_type("CastBallotError")
CastBallotResult = result_union("CastBallotResult", VoteSaved, CastBallotError)
PaperBallotError = error_type("PaperBallotError")
PaperBallotResult = result_union("PaperBallotResult", VoteSaved, PaperBallotError)
VoteProxyError = error_type("VoteProxyError")
VoteProxyResult = result_union("VoteProxyResult", VoteSaved, VoteProxyError)
CertifyVoteError = error_type("CertifyVoteError")
CertifyVoteResult = result_union("CertifyVoteResult", VoteSaved, CertifyVoteError)


@strawberry.type
class VotesQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Open votes first, then the finished ones; newest first, a page at a time.",
    )
    async def votes(
        self,
        info: Info,
        community_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Vote]:
        limit, cursor = page_args(info, first, after)
        page = await votes.list_votes(
            info.context.session,
            actor=info.context.actor,
            community_id=decode_id(community_id) if community_id is not None else None,
            first=limit,
            after=cursor,
        )
        return connection(page, Vote)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def vote(self, info: Info, id: strawberry.ID) -> Vote:
        context = info.context
        return Vote(row=await votes.access_vote(context.session, actor=context.actor, vote_id=decode_id(id)))


@strawberry.type
class VotesMutation:
    @strawberry.mutation(permission_classes=[IsStaff], description="Put a matter to the owners.")
    async def propose_vote(self, info: Info, input: ProposeVoteInput) -> ProposeVoteResult:
        context = info.context

        async def work() -> VoteSaved:
            row = await votes.do_propose_vote(
                context.session,
                actor=context.actor,
                community_id=decode_id(input.community_id),
                title=input.title,
                body=input.body,
                matter=Matter(input.matter.value),
                deadline=input.deadline,
                fee_plan_id=decode_id(input.fee_plan_id) if input.fee_plan_id else None,
                package=input.package,
            )
            return VoteSaved(vote=Vote(row=row))

        return await mutation_boundary(info, ProposeVoteError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="An owner's ballot, on their phone."
    )
    async def cast_ballot(
        self,
        info: Info,
        vote_id: strawberry.ID,
        household_id: strawberry.ID,
        choice: VoteChoice,  # type: ignore[valid-type]
    ) -> CastBallotResult:
        context = info.context

        async def work() -> VoteSaved:
            ballot = await votes.do_cast_ballot(
                context.session,
                actor=context.actor,
                vote_id=decode_id(vote_id),
                household_id=decode_id(household_id),
                choice=Choice(choice.value),
            )
            return VoteSaved(
                vote=Vote(
                    row=await votes.access_vote(context.session, actor=context.actor, vote_id=ballot.vote_id)
                )
            )

        return await mutation_boundary(info, CastBallotError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="A paper ballot collected door to door.")
    async def record_paper_ballot(
        self,
        info: Info,
        vote_id: strawberry.ID,
        household_id: strawberry.ID,
        choice: VoteChoice,  # type: ignore[valid-type]
        photo_id: strawberry.ID,
    ) -> PaperBallotResult:
        context = info.context

        async def work() -> VoteSaved:
            ballot = await votes.do_record_paper_ballot(
                context.session,
                actor=context.actor,
                vote_id=decode_id(vote_id),
                household_id=decode_id(household_id),
                choice=Choice(choice.value),
                photo_id=decode_id(photo_id),
            )
            return VoteSaved(
                vote=Vote(
                    row=await votes.access_vote(context.session, actor=context.actor, vote_id=ballot.vote_id)
                )
            )

        return await mutation_boundary(info, PaperBallotError, work)

    @strawberry.mutation(permission_classes=[IsStaff], description="A family member's written proxy.")
    async def record_vote_proxy(
        self, info: Info, vote_id: strawberry.ID, household_id: strawberry.ID, phone: str, note: str
    ) -> VoteProxyResult:
        context = info.context

        async def work() -> VoteSaved:
            proxy = await votes.do_record_proxy(
                context.session,
                actor=context.actor,
                vote_id=decode_id(vote_id),
                household_id=decode_id(household_id),
                phone=phone,
                note=note,
            )
            return VoteSaved(
                vote=Vote(
                    row=await votes.access_vote(context.session, actor=context.actor, vote_id=proxy.vote_id)
                )
            )

        return await mutation_boundary(info, VoteProxyError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="An official certifies the result after the deadline."
    )
    async def certify_vote(self, info: Info, id: strawberry.ID) -> CertifyVoteResult:
        context = info.context

        async def work() -> VoteSaved:
            row = await votes.do_certify_vote(context.session, actor=context.actor, vote_id=decode_id(id))
            return VoteSaved(vote=Vote(row=row))

        return await mutation_boundary(info, CertifyVoteError, work)
