"""GraphQL for reaching people: her channel choices, opening a notice's link, one emergency notice for those it
was sent to, the steward's report of who it reached (with calls to the rest), and the paid sends' costs."""

from __future__ import annotations

import asyncio
from dataclasses import field
from datetime import date, datetime
from enum import Enum

import strawberry

from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.phone import national
from laoyou.core.time import as_utc
from laoyou.estates.schema import Community
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id
from laoyou.notify import service as notify
from laoyou.notify.models import EmergencyNotice as EmergencyNoticeRow
from laoyou.notify.reach import service as reach
from laoyou.notify.reach.models import Channel, SendStatus
from laoyou.notify.schema import EmergencyNotice

ReachChannel = strawberry.enum(
    Enum("ReachChannel", {c.name.upper(): c.value for c in Channel}),
    description="A way of reaching a person.",
)
ReachedBy = strawberry.enum(
    Enum(
        "ReachedBy", {name.upper(): name for name in (*(c.value for c in Channel), "app", "voice_answered")}
    ),
    description="How a notice reached her: the channel she opened it on, the app, or a call she answered.",
)
ReachSendStatus = strawberry.enum(Enum("ReachSendStatus", {s.name.upper(): s.value for s in SendStatus}))


def clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_clock(text: str, field: str) -> int:
    """ "HH:MM" (Shanghai time of day) as minutes after midnight; anything else is the person's mistake."""
    hours, _, minutes = text.strip().partition(":")
    if not (
        hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60
    ):
        raise LaoyouError(ErrorCode.INVALID, "Please choose a time of day.", field=field)
    return int(hours) * 60 + int(minutes)


@strawberry.type(
    description="One way of reaching her: whether she has it, and whether she lets it reach her."
)
class ReachChannelState:
    channel: ReachChannel  # type: ignore[valid-type]
    on: bool = strawberry.field(description="She has not turned it off.")
    available: bool = strawberry.field(
        description="She has it: a phone with notifications on, a WeChat link, a phone number."
    )


@strawberry.type(description="How the viewer wants to be reached.")
class ReachChoice:
    channels: list[ReachChannelState]
    call_me: bool = strawberry.field(description="Important notices ring her phone first.")
    quiet_start: str = strawberry.field(description="Quiet hours' start, HH:MM Shanghai time.")
    quiet_end: str = strawberry.field(description="Quiet hours' end; equal to the start: no quiet hours.")
    push_devices: int = strawberry.field(description="How many of her phones have notifications on.")


@strawberry.type(description="One climb step: the channel tried, how it went and when.")
class ReachStep:
    channel: ReachChannel  # type: ignore[valid-type]
    status: ReachSendStatus  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When it went out, else when it was planned.")


@strawberry.type(description="One person an emergency notice was for, and whether it reached her.")
class PersonReach:
    row: strawberry.Private[reach.PersonReach]

    @strawberry.field
    def person_id(self) -> strawberry.ID:
        return encode_id(self.row.person.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.person.name

    @strawberry.field(description="Her flats in the notice's community, building and unit: where to knock.")
    def homes(self) -> list[str]:
        return self.row.homes

    @strawberry.field(
        description="In peoplePage, the building she is listed under (null: no flat on record); else null."
    )
    def building(self) -> str | None:
        return self.row.building

    @strawberry.field(description="Her full number: the steward calls whoever was not reached.")
    def phone(self) -> str:
        return national(self.row.person.phone)

    @strawberry.field
    def reached_by(self) -> ReachedBy | None:  # type: ignore[valid-type]
        found = self.row.reached_by
        return ReachedBy(found) if found else None

    @strawberry.field
    def reached_at(self) -> datetime | None:
        if self.row.reach is not None and self.row.reach.opened_at is not None:
            return as_utc(self.row.reach.opened_at)
        answered = [s.answered_at for s in self.row.sends if s.answered_at]
        return as_utc(min(answered)) if answered else None

    @strawberry.field
    def steps(self) -> list[ReachStep]:
        return [
            ReachStep(
                channel=ReachChannel(s.channel),
                status=ReachSendStatus(s.status),
                at=as_utc(s.sent_at or s.next_attempt_at),
            )
            for s in self.row.sends
        ]


@strawberry.type(description="A building of the community and how many there a notice has not reached yet.")
class BuildingReach:
    building: str | None = strawberry.field(
        description='The building\'s name; null for people with no flat on record (filter them with building: "").'
    )
    unreached: int


@strawberry.type(description="How many people a notice reached one way.")
class ReachedCount:
    reached_by: ReachedBy  # type: ignore[valid-type]
    people: int


@strawberry.type(description="One page of an emergency notice's people, by building, flat and person.")
class PersonReachPage:
    nodes: list[PersonReach]
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None = strawberry.field(description="For the page before: pass it as `before`.")
    end_cursor: str | None = strawberry.field(description="For the page after: pass it as `after`.")


@strawberry.type(
    description="Who an emergency notice has reached and by what: counts, and its people a page at a time."
)
class EmergencyReach:
    notice: EmergencyNotice
    row: strawberry.Private[EmergencyNoticeRow]
    # reached, unreached and reachedBy share one count, which sibling fields resolve at once.
    counted: strawberry.Private[reach.ReachCounts | None] = None
    counting: strawberry.Private[asyncio.Lock] = field(default_factory=asyncio.Lock)

    async def _counts(self, info: Info) -> reach.ReachCounts:
        async with self.counting:
            if self.counted is None:
                self.counted = await reach.reach_counts(info.context.session, notice=self.row)
        return self.counted

    @strawberry.field(description="How many people of the community it reached.")
    async def reached(self, info: Info) -> int:
        return (await self._counts(info)).reached

    @strawberry.field(description="How many it has not reached yet.")
    async def unreached(self, info: Info) -> int:
        return (await self._counts(info)).unreached

    @strawberry.field(description="How those reached were reached: a count for each way, the most first.")
    async def reached_by(self, info: Info) -> list[ReachedCount]:
        counts = (await self._counts(info)).by_channel
        return [
            ReachedCount(reached_by=ReachedBy(by), people=count)
            for by, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]

    @strawberry.field(description="Buildings with people not reached yet, and how many in each.")
    async def buildings(self, info: Info) -> list[BuildingReach]:
        rows = await reach.unreached_by_building(info.context.session, notice=self.row)
        return [BuildingReach(building=row.building, unreached=row.unreached) for row in rows]

    @strawberry.field(
        description=(
            "One page of its people, not reached (the default) or reached, by building and flat. building: "
            "one building's name, or \"\" for those with no flat on record. first: at most the server's page "
            "cap (50 by default); after/before: a page's endCursor/startCursor."
        )
    )
    async def people_page(
        self,
        info: Info,
        reached: bool = False,
        building: str | None = None,
        first: int | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> PersonReachPage:
        context = info.context
        page = await reach.reach_page(
            context.session,
            actor=context.actor,
            notice=self.row,
            reached=reached,
            building=building,
            first=first,
            after=after,
            before=before,
            maximum=context.settings.max_page_size,
        )
        return PersonReachPage(
            nodes=[PersonReach(row=row) for row in page.rows],
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        )

    @strawberry.field(
        deprecation_reason="Loads the whole community at once; use peoplePage.",
        description="Everyone of the community, those not reached first.",
    )
    async def people(self, info: Info) -> list[PersonReach]:
        context = info.context
        _, rows = await reach.emergency_reach(context.session, actor=context.actor, notice_id=self.row.id)
        return [PersonReach(row=row) for row in rows]


@strawberry.type(description="A community's SMS and voice sends this month, against its caps.")
class CommunityReachCost:
    row: strawberry.Private[reach.CommunityCost]

    @strawberry.field
    def community(self) -> Community:
        return Community(row=self.row.community)

    @strawberry.field(description="The month, YYYY-MM.")
    def month(self) -> str:
        return self.row.month.strftime("%Y-%m")

    @strawberry.field
    def sms(self) -> int:
        return self.row.sms

    @strawberry.field
    def sms_cap(self) -> int:
        return self.row.sms_cap

    @strawberry.field
    def voice(self) -> int:
        return self.row.voice

    @strawberry.field
    def voice_cap(self) -> int:
        return self.row.voice_cap


@strawberry.type
class ReachChoiceSaved:
    choice: ReachChoice


@strawberry.type
class NoticeOpened:
    matched: bool = strawberry.field(description="The link was one of a notice's, not yet opened.")


@strawberry.type
class NoticeSeen:
    seen: int = strawberry.field(description="How many climbs to her this stopped.")


@strawberry.type
class UnreachedCalled:
    calls: int = strawberry.field(description="Calls queued (within the caps).")


@strawberry.type
class ReachCapSaved:
    channel: ReachChannel  # type: ignore[valid-type]
    monthly: int


ReachChoiceError = error_type("ReachChoiceError")
ReachChoiceResult = result_union("ReachChoiceResult", ReachChoiceSaved, ReachChoiceError)
OpenNoticeError = error_type("OpenNoticeError")
OpenNoticeResult = result_union("OpenNoticeResult", NoticeOpened, OpenNoticeError)
NoticeSeenError = error_type("NoticeSeenError")
NoticeSeenResult = result_union("NoticeSeenResult", NoticeSeen, NoticeSeenError)
CallUnreachedError = error_type("CallUnreachedError")
CallUnreachedResult = result_union("CallUnreachedResult", UnreachedCalled, CallUnreachedError)
ReachCapError = error_type("ReachCapError")
ReachCapResult = result_union("ReachCapResult", ReachCapSaved, ReachCapError)


async def _choice(info: Info) -> ReachChoice:
    context = info.context
    row = await reach.choice(context.session, actor=context.actor)
    had = await reach.channels_had(context.session, actor=context.actor)
    off = {name for name in row.off.split(",") if name}
    return ReachChoice(
        channels=[
            ReachChannelState(channel=ReachChannel(c.value), on=c.value not in off, available=had[c])
            for c in reach.CHOOSABLE
        ],
        call_me=row.call_me,
        quiet_start=clock_text(row.quiet_start),
        quiet_end=clock_text(row.quiet_end),
        push_devices=await notify.device_count(context.session, actor=context.actor),
    )


def _month(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        return None  # a month that is not one: this month, as when none is asked for


@strawberry.type
class ReachQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="How I want to be reached.")
    async def reach_choice(self, info: Info) -> ReachChoice:
        return await _choice(info)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="One emergency notice, for those of its community (residents, family, its staff).",
    )
    async def emergency_notice(self, info: Info, id: strawberry.ID) -> EmergencyNotice:
        context = info.context
        row = await notify.access_emergency(context.session, actor=context.actor, notice_id=decode_id(id))
        return EmergencyNotice(row=row)

    @strawberry.field(
        permission_classes=[IsStaff],
        description="Stewards: who an emergency notice has reached and by what; its people a page at a time.",
    )
    async def emergency_reach(self, info: Info, notice_id: strawberry.ID) -> EmergencyReach:
        context = info.context
        notice = await reach.access_steward_notice(
            context.session, actor=context.actor, notice_id=decode_id(notice_id)
        )
        return EmergencyReach(notice=EmergencyNotice(row=notice), row=notice)

    @strawberry.field(
        permission_classes=[IsStaff], description="SMS and voice sends per community in a month (YYYY-MM)."
    )
    async def reach_costs(self, info: Info, month: str | None = None) -> list[CommunityReachCost]:
        context = info.context
        rows = await reach.costs(context.session, actor=context.actor, month=_month(month))
        return [CommunityReachCost(row=row) for row in rows]


@strawberry.type
class ReachMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Choose the ways I may be reached, 'call me', and my quiet hours (HH:MM; equal: none).",
    )
    async def set_reach_choice(
        self,
        info: Info,
        channels: list[ReachChannel],  # type: ignore[valid-type]
        call_me: bool,
        quiet_start: str,
        quiet_end: str,
    ) -> ReachChoiceResult:
        context = info.context

        async def work() -> ReachChoiceSaved:
            await reach.do_set_choice(
                context.session,
                actor=context.actor,
                channels=[c.value for c in channels[:10]],
                call_me=call_me,
                quiet_start=parse_clock(quiet_start, "quietStart"),
                quiet_end=parse_clock(quiet_end, "quietEnd"),
            )
            return ReachChoiceSaved(choice=await _choice(info))

        return await mutation_boundary(info, ReachChoiceError, work)

    @strawberry.mutation(
        description="A notice's link was opened (its ?r= value): the climb to other channels stops. No login."
    )
    async def open_notice(self, info: Info, opened: str) -> OpenNoticeResult:
        context = info.context

        async def work() -> NoticeOpened:
            return NoticeOpened(matched=await reach.do_open(context.session, opened=opened[:50]))

        return await mutation_boundary(info, OpenNoticeError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="I read this emergency notice: stop its climb to me.",
    )
    async def mark_notice_seen(self, info: Info, notice_id: strawberry.ID) -> NoticeSeenResult:
        context = info.context

        async def work() -> NoticeSeen:
            seen = await reach.do_mark_emergency_seen(
                context.session, actor=context.actor, notice_id=decode_id(notice_id)
            )
            return NoticeSeen(seen=seen)

        return await mutation_boundary(info, NoticeSeenError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="I opened this page of the app (its path, and query if any): my notices about it stop climbing.",
    )
    async def mark_page_seen(self, info: Info, path: str) -> NoticeSeenResult:
        context = info.context

        async def work() -> NoticeSeen:
            seen = await reach.do_mark_page_seen(context.session, actor=context.actor, path=path[:300])
            return NoticeSeen(seen=seen)

        return await mutation_boundary(info, NoticeSeenError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Stewards: call everyone the emergency notice has not reached.",
    )
    async def call_unreached(self, info: Info, notice_id: strawberry.ID) -> CallUnreachedResult:
        context = info.context

        async def work() -> UnreachedCalled:
            calls = await reach.do_call_unreached(
                context.session, actor=context.actor, notice_id=decode_id(notice_id)
            )
            return UnreachedCalled(calls=calls)

        return await mutation_boundary(info, CallUnreachedError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="The operator: a community's monthly cap on SMS or calls."
    )
    async def set_reach_cap(
        self,
        info: Info,
        community_id: strawberry.ID,
        channel: ReachChannel,  # type: ignore[valid-type]
        monthly: int,
    ) -> ReachCapResult:
        context = info.context

        async def work() -> ReachCapSaved:
            row = await reach.do_set_cap(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                channel=channel.value,
                monthly=monthly,
            )
            return ReachCapSaved(channel=ReachChannel(row.channel), monthly=row.monthly)

        return await mutation_boundary(info, ReachCapError, work)
