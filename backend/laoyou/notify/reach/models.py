"""Reaching a person by the channel that works for her: what she chose, her WeChat link, each notice's climb
(one `Reach` per notice and person, one `ReachSend` per step) and the SMS and voice counts that caps guard."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class Channel(StrEnum):
    """From the weakest to the strongest: a notice climbs in this order."""

    push = "push"
    wechat = "wechat"
    sms = "sms"
    voice = "voice"


# What a send costs the community money for, and so is counted against a cap.
PAID = (Channel.sms, Channel.voice)


class Priority(StrEnum):
    normal = "normal"  # the best channel, once; no climb
    important = "important"  # climbs after 2 hours unopened; waits for the end of quiet hours
    emergency = "emergency"  # climbs after 2 minutes unopened, day or night


class ReachState(StrEnum):
    climbing = "climbing"  # waiting for the current step to be opened, then the next step
    opened = "opened"  # opened or confirmed on some channel: the climb stopped
    exhausted = "exhausted"  # every channel she has was tried


class SendStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"  # the provider refused it for good, or every retry failed
    capped = "capped"  # the person's daily or the community's monthly cap was reached: not sent
    unavailable = "unavailable"  # this deployment has no such channel (no voice provider, say)
    skipped = "skipped"  # she opened the notice before this step went out


class ReachChoice(SQLModel, table=True):
    """What a person chose; without a row she is reached on every channel she has, at any hour."""

    __tablename__ = "reach_choice"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    # The channels she turned off, comma-separated (push, wechat, sms, voice).
    off: str = Field(default="", max_length=40)
    # "Call me": important notices ring her phone first, before any message she might not read.
    call_me: bool = False
    # Quiet hours in Shanghai minutes after midnight; start == end means none. Never for emergencies.
    quiet_start: int = 0
    quiet_end: int = 0
    updated_at: datetime = utc_field(default_now=True)


class WechatLink(SQLModel, table=True):
    """The person's openid under the official account, learned by snsapi_base when she opened Laoyou in WeChat."""

    __tablename__ = "wechat_link"
    __table_args__ = (UniqueConstraint("appid", "openid"), UniqueConstraint("person_id", "appid"))

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    appid: str = Field(max_length=32)
    openid: str = Field(max_length=128)
    # False once WeChat says she no longer follows the account (errcode 43004): nothing more is sent there.
    following: bool = True
    linked_at: datetime = utc_field(default_now=True)


class Reach(SQLModel, table=True):
    """One notice on its way to one person: the ladder of channels it may climb, and how far it got."""

    __tablename__ = "reach"
    __table_args__ = (
        UniqueConstraint("event_key", "person_id"),
        Index("ix_reach_due", "state", "next_step_at"),
        Index("ix_reach_person_link", "person_id", "state", "link"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(max_length=64, index=True)
    person_id: int = Field(foreign_key="person.id")
    # Whose SMS and voice budget it spends: the community she lives in or follows (none for staff).
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    kind: str = Field(max_length=30)
    priority: str = Field(max_length=10)
    title: str = Field(max_length=100)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    link: str = Field(default="/", max_length=200)
    # Carried in the links sent to her (?r=…): opening any of them stops the climb.
    token: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    ladder: str = Field(max_length=40)  # comma-separated channels, weakest first
    step: int = 0
    state: str = Field(default=ReachState.climbing.value, max_length=10)
    next_step_at: datetime | None = utc_field(nullable=True)
    opened_at: datetime | None = utc_field(nullable=True)
    opened_via: str | None = Field(default=None, max_length=10)
    created_at: datetime = utc_field(default_now=True)

    @property
    def channels(self) -> list[Channel]:
        return [Channel(name) for name in self.ladder.split(",") if name]


class ReachSend(SQLModel, table=True):
    """One climb step: sent once (the unique step), with retries under a lease, like the push outbox."""

    __tablename__ = "reach_send"
    __table_args__ = (
        UniqueConstraint("reach_id", "step"),
        Index("ix_reach_send_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reach_id: int = Field(foreign_key="reach.id", index=True)
    step: int
    channel: str = Field(max_length=10)
    status: str = Field(default=SendStatus.pending.value, max_length=12)
    attempts: int = 0
    next_attempt_at: datetime = utc_field(default_now=True)
    lease: str | None = Field(default=None, max_length=32)
    claimed_at: datetime | None = utc_field(nullable=True)
    # The provider's id of the message or call (a voice call's result and key press come back under it).
    provider_ref: str | None = Field(default=None, max_length=100, index=True)
    error: str = Field(default="", max_length=200)
    answered_at: datetime | None = utc_field(nullable=True)  # voice: she picked up
    created_at: datetime = utc_field(default_now=True)
    sent_at: datetime | None = utc_field(nullable=True)


class ReachUsage(SQLModel, table=True):
    """Paid sends so far: per community and Shanghai month, and per person and Shanghai day (community 0
    with a person, or person 0 with a community). Reserved by a guarded increment, so a cap is never passed."""

    __tablename__ = "reach_usage"
    __table_args__ = (UniqueConstraint("scope", "scope_id", "period", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=10)  # "community" (period is the month's first day) or "person" (the day)
    scope_id: int
    period: date
    channel: str = Field(max_length=10)
    used: int = 0


class ReachCap(SQLModel, table=True):
    """The operator's monthly cap on a community's SMS or voice sends; without a row the deployment's default."""

    __tablename__ = "reach_cap"
    __table_args__ = (UniqueConstraint("community_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    channel: str = Field(max_length=10)
    monthly: int
    set_by: int = Field(foreign_key="person.id")
    updated_at: datetime = utc_field(default_now=True)
