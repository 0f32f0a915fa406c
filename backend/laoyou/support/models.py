"""Cloud customer service: conversations and their messages, agents' hours, the FAQ, calls and SOS alerts.

Every table carries community_id and district_id (a city partitions by district).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class ConversationStatus(StrEnum):
    waiting = "waiting"  # nobody has claimed it yet
    active = "active"  # an agent (or the steward it was handed to) is on it
    closed = "closed"


class MessageKind(StrEnum):
    text = "text"
    voice = "voice"
    photo = "photo"
    system = "system"  # told by the service itself: FAQ answers, "a person will reply at…", transfers
    emergency = (
        "emergency"  # told by the service to a message that looks like an emergency: one-tap SOS and calls
    )
    missed_call = "missed_call"


class Conversation(SQLModel, table=True):
    """One resident's question to customer service, from the first message until it is closed."""

    __tablename__ = "support_conversation"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    resident_id: int = Field(foreign_key="person.id", index=True)
    status: str = Field(default=ConversationStatus.waiting.value, max_length=10, index=True)
    assignee_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    urgent: bool = False
    # The server order: the seq of the newest message. Messages take last_seq + 1 under a row lock.
    last_seq: int = 0
    resident_delivered_seq: int = 0
    resident_read_seq: int = 0
    staff_delivered_seq: int = 0
    staff_read_seq: int = 0
    resident_seen_at: datetime | None = utc_field(
        nullable=True
    )  # the resident's app last said it got messages
    created_at: datetime = utc_field(default_now=True)
    last_message_at: datetime = utc_field(default_now=True)
    waiting_since: datetime | None = utc_field(nullable=True)  # the resident's oldest unanswered message
    first_response_at: datetime | None = utc_field(nullable=True)
    first_responder_id: int | None = Field(default=None, foreign_key="person.id")
    closed_at: datetime | None = utc_field(nullable=True)
    rating: int | None = None  # 1..5
    rating_comment: str = Field(default="", max_length=500)
    work_order_id: int | None = None


class Message(SQLModel, table=True):
    __tablename__ = "support_message"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # A client-made id per sender: a retried send returns the first message instead of a second one.
        UniqueConstraint("sender_id", "client_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="support_conversation.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    seq: int
    sender_id: int | None = Field(default=None, foreign_key="person.id")  # None: the service itself
    from_staff: bool = False
    kind: str = Field(default=MessageKind.text.value, max_length=12)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # What the service itself says (a note, the bot, a missed call) is kept as its English msgid and parameters
    # and shown in each reader's language; body keeps it in the resident's, for previews and old clients.
    msgid: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    params: str = Field(
        default="{}", sa_column=Column(Text, nullable=False, default="{}", server_default="{}")
    )
    media_id: int | None = Field(default=None, foreign_key="media_file.id")
    client_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_field(default_now=True)


class AgentStatus(SQLModel, table=True):
    """An agent's working hours (local time, minutes after midnight) and whether they are online now."""

    __tablename__ = "support_agent_status"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    online: bool = False
    hours_start: int = 8 * 60
    hours_end: int = 20 * 60
    updated_at: datetime = utc_field(default_now=True)


class FaqEntry(SQLModel, table=True):
    """A question residents often ask and the plain answer, kept by the district's staff."""

    __tablename__ = "support_faq"

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    question: str = Field(max_length=200)
    answer: str = Field(sa_column=Column(Text, nullable=False))
    keywords: str = Field(default="", max_length=300)  # space-separated extra words to match on
    updated_by_id: int | None = Field(default=None, foreign_key="person.id")
    updated_at: datetime = utc_field(default_now=True)


class PhoneCallLog(SQLModel, table=True):
    """A resident pressed "call my steward": who, which household, which number was dialled."""

    __tablename__ = "support_phone_call"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    phone: str = Field(max_length=20)
    created_at: datetime = utc_field(default_now=True)


class SosStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class SosAlert(SQLModel, table=True):
    __tablename__ = "support_sos"
    __table_args__ = (UniqueConstraint("person_id", "client_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    address: str = Field(max_length=300)
    # The urgent words of older alerts, raised by chat messages; only the resident's SOS button raises one now.
    reason: str = Field(default="", max_length=500)
    conversation_id: int | None = Field(default=None, foreign_key="support_conversation.id")
    responder_id: int | None = Field(default=None, foreign_key="person.id")
    status: str = Field(default=SosStatus.open.value, max_length=15, index=True)
    client_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = utc_field(default_now=True)
    acknowledged_at: datetime | None = utc_field(nullable=True)
    resolved_at: datetime | None = utc_field(nullable=True)
    # Set when the resident herself said "I am fine" (it is resolved then too, at the same moment).
    cancelled_at: datetime | None = utc_field(nullable=True)


class CallStatus(StrEnum):
    ringing = "ringing"
    connected = "connected"
    ended = "ended"  # answered, then hung up
    missed = "missed"  # hung up before anyone answered
    declined = "declined"


class Call(SQLModel, table=True):
    """An audio or video call in the browser (WebRTC); signals travel through call_signal rows."""

    __tablename__ = "support_call"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="support_conversation.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    caller_id: int = Field(foreign_key="person.id", index=True)
    callee_id: int | None = Field(
        default=None, foreign_key="person.id", index=True
    )  # None: any agent of the district
    video: bool = False
    status: str = Field(default=CallStatus.ringing.value, max_length=10, index=True)
    created_at: datetime = utc_field(default_now=True)
    answered_at: datetime | None = utc_field(nullable=True)
    ended_at: datetime | None = utc_field(nullable=True)
    ended_by_id: int | None = Field(default=None, foreign_key="person.id")


class CallSignal(SQLModel, table=True):
    """One WebRTC signal (offer, answer, ICE candidate, hang-up), read by the other side by id cursor."""

    __tablename__ = "support_call_signal"

    id: int | None = Field(default=None, primary_key=True)
    call_id: int = Field(foreign_key="support_call.id", index=True)
    community_id: int = Field(foreign_key="community.id")
    district_id: int = Field(foreign_key="district.id")
    sender_id: int = Field(foreign_key="person.id")
    kind: str = Field(max_length=10)  # offer, answer, ice, hangup
    payload: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = utc_field(default_now=True)
