"""GraphQL for reaching people: her channel choices, opening a notice's link, one emergency notice for those it
was sent to, the steward's report of who it reached (with calls to the rest), and the paid sends' costs."""

from __future__ import annotations

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


@strawberry.type(description="Who an emergency notice has reached, those not reached first.")
class EmergencyReach:
    notice: EmergencyNotice
    reached: int
    unreached: int
    people: list[PersonReach]


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
        description="Stewards: who an emergency notice has reached and by what; those not reached first.",
    )
    async def emergency_reach(self, info: Info, notice_id: strawberry.ID) -> EmergencyReach:
        context = info.context
        notice, rows = await reach.emergency_reach(
            context.session, actor=context.actor, notice_id=decode_id(notice_id)
        )
        reached = sum(1 for row in rows if row.reached_by is not None)
        return EmergencyReach(
            notice=EmergencyNotice(row=notice),
            reached=reached,
            unreached=len(rows) - reached,
            people=[PersonReach(row=row) for row in rows],
        )

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
