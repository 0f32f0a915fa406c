"""Push subscriptions (one per device), preferences per kind, the outbox, large notices waiting to fan out, and
emergency notices."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, String, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class PushKind(StrEnum):
    """What a resident can switch on or off; every notification maps to one of these."""

    briefings = "briefings"
    bills = "bills"
    work_orders = "work_orders"
    chat = "chat"
    emergencies = "emergencies"
    general = "general"  # account matters (family links): always on


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    gone = "gone"  # the device unsubscribed (404/410); nothing more is sent to it


class PushSubscription(SQLModel, table=True):
    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    endpoint: str = Field(sa_column=Column(String(1000), nullable=False, unique=True))
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    user_agent: str = Field(default="", max_length=300)
    created_at: datetime = utc_field(default_now=True)
    last_success_at: datetime | None = utc_field(nullable=True)


class PushPreference(SQLModel, table=True):
    """Only switched-off kinds need a row; everything is on by default."""

    __tablename__ = "push_preference"
    __table_args__ = (UniqueConstraint("person_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=20)
    enabled: bool = True


class PushOutbox(SQLModel, table=True):
    """One row per event and device, written in the event's transaction; the sender claims and delivers it."""

    __tablename__ = "push_outbox"
    __table_args__ = (
        UniqueConstraint("event_key", "subscription_id"),
        Index("ix_push_outbox_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(max_length=64)
    # No foreign key: a device that unsubscribed is deleted, its history stays.
    subscription_id: int = Field(index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=20)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    ttl: int = 86400
    urgency: str = Field(default="normal", max_length=10)
    topic: str | None = Field(default=None, max_length=32)
    status: str = Field(default=OutboxStatus.pending.value, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = utc_field(default_now=True)
    claimed_at: datetime | None = utc_field(nullable=True)
    # Which claim holds the row: results are written only under the lease that claimed it, so a sender
    # that was presumed dead and lost its rows cannot overwrite what the new claimant recorded.
    lease: str | None = Field(default=None, max_length=32)
    last_status: int | None = None
    created_at: datetime = utc_field(default_now=True)
    sent_at: datetime | None = utc_field(nullable=True)


class NoticeFanout(SQLModel, table=True):
    """A notice to a large audience, written in its event's transaction instead of its device and climb rows;
    the worker expands it (notify.outbox.expand_fanouts) in one transaction of its own, exactly once."""

    __tablename__ = "notice_fanout"

    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    person_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kind: str = Field(max_length=30)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    link: str = Field(default="", max_length=200)
    urgency: str | None = Field(default=None, max_length=10)
    topic: str | None = Field(default=None, max_length=64)
    community_id: int | None = None
    created_at: datetime = utc_field(default_now=True)
    # Set by the transaction that wrote its rows: pending while null.
    expanded_at: datetime | None = utc_field(nullable=True, index=True)


class EmergencyKind(StrEnum):
    water_cut = "water_cut"
    power_cut = "power_cut"
    lift_out = "lift_out"
    typhoon = "typhoon"
    other = "other"


class EmergencyNotice(SQLModel, table=True):
    __tablename__ = "emergency_notice"
    # One send per form: a second press, a reload or a retry with the same client id finds these notices.
    __table_args__ = (
        Index("ix_emergency_notice_client", "author_id", "client_id", "community_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    author_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=100)
    body: str = Field(default="", max_length=500)
    people_notified: int = 0
    client_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_field(default_now=True)
