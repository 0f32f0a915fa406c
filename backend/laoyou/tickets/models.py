"""Work orders: repair reports (报事报修), complaints and suggestions (投诉建议), their events and photos.

Every row carries community_id and district_id: the board is per district and a city partitions by district.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import read_model, utc_field


class Kind(StrEnum):
    repair = "repair"
    complaint = "complaint"
    suggestion = "suggestion"


class Category(StrEnum):
    water = "water"
    electricity = "electricity"
    sewer = "sewer"
    lift = "lift"
    door_lock = "door_lock"
    lighting = "lighting"
    greenery = "greenery"
    cleanliness = "cleanliness"
    noise = "noise"
    parking = "parking"
    security = "security"
    other = "other"
    # Emergencies: the on-duty staff are alerted at once.
    gas = "gas"
    flooding = "flooding"
    lift_trapped = "lift_trapped"

    @property
    def is_emergency(self) -> bool:
        return self in (Category.gas, Category.flooding, Category.lift_trapped)


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"
    emergency = "emergency"


class Status(StrEnum):
    reported = "reported"
    dispatched = "dispatched"
    accepted = "accepted"
    in_progress = "in_progress"
    done = "done"
    confirmed = "confirmed"  # rated by the resident
    closed = "closed"  # done and not rated within 7 days
    reopened = "reopened"
    cancelled = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {Status.reported, Status.dispatched, Status.accepted, Status.in_progress, Status.reopened}
)


class Place(StrEnum):
    unit = "unit"  # the reporter's own flat
    common = "common"  # stairs, courtyard, lift, gate...


class Source(StrEnum):
    app = "app"  # the resident, on their phone
    phone = "phone"  # staff took a call
    desk = "desk"  # at the service desk
    patrol = "patrol"  # staff saw it on patrol
    chat = "chat"  # from a customer-service chat


class WorkOrder(SQLModel, table=True):
    __tablename__ = "work_order"
    __table_args__ = (
        # A retried or replayed submission returns the first work order.
        UniqueConstraint("created_by_id", "client_id", name="uq_work_order_client"),
        # The district board: open orders, newest first, one index range scan per page.
        Index("ix_work_order_board", "district_id", "is_open", "id"),
        Index("ix_work_order_district_status", "district_id", "status", "id"),
        Index("ix_work_order_community_open", "community_id", "is_open", "id"),
        Index("ix_work_order_assignee_open", "assignee_id", "is_open", "id"),
        Index("ix_work_order_reporter", "reporter_id", "id"),
        Index("ix_work_order_household", "household_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    district_id: int = Field(foreign_key="district.id")
    kind: str = Field(max_length=12, default=Kind.repair.value)
    category: str = Field(max_length=20)
    urgency: str = Field(max_length=10, default=Urgency.normal.value)
    status: str = Field(max_length=12, default=Status.reported.value)
    is_open: bool = True  # kept by the service with status; the board's index leads with it
    place: str = Field(max_length=10, default=Place.unit.value)
    household_id: int | None = Field(default=None, foreign_key="household.id")
    place_note: str = Field(default="", max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source: str = Field(max_length=10, default=Source.app.value)
    # The resident concerned (None when staff logged a caller who has no account).
    reporter_id: int | None = Field(default=None, foreign_key="person.id")
    reporter_name: str = Field(default="", max_length=50)
    reporter_phone: str = Field(default="", max_length=20)
    created_by_id: int = Field(foreign_key="person.id")
    client_id: str = Field(max_length=64)
    hide_author: bool = False  # complaints only: field staff never see who
    assignee_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)
    response_due_at: datetime = utc_field()
    completion_due_at: datetime = utc_field()
    responded_at: datetime | None = utc_field(nullable=True)  # first accepted
    done_at: datetime | None = utc_field(nullable=True)
    closed_at: datetime | None = utc_field(nullable=True)
    escalation_level: int = 0  # 1: the steward was alerted; 2: the district manager
    escalated_at: datetime | None = utc_field(nullable=True)
    official_visible: bool = False  # a complaint unresolved past its time
    reopen_count: int = 0
    rating: int | None = None
    rating_comment: str = Field(default="", max_length=500)
    return_visit_due_at: datetime | None = utc_field(nullable=True)
    return_visit_done_at: datetime | None = utc_field(nullable=True)
    return_visit_note: str = Field(default="", max_length=500)


class WorkOrderEvent(SQLModel, table=True):
    """One change of a work order: the resident's timeline and the audit trail."""

    __tablename__ = "work_order_event"

    id: int | None = Field(default=None, primary_key=True)
    work_order_id: int = Field(foreign_key="work_order.id", index=True)
    community_id: int = Field(foreign_key="community.id")
    district_id: int = Field(foreign_key="district.id")
    actor_id: int | None = Field(default=None, foreign_key="person.id")  # None: the system (SLA, auto-close)
    action: str = Field(max_length=20)
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str = Field(max_length=12)
    note: str = Field(default="", max_length=500)
    created_at: datetime = utc_field(default_now=True)


class TicketAttachment(SQLModel, table=True):
    """A photo or voice note on a work order: from the report, or from the work."""

    __tablename__ = "ticket_attachment"
    __table_args__ = (UniqueConstraint("work_order_id", "media_file_id"),)

    id: int | None = Field(default=None, primary_key=True)
    work_order_id: int = Field(foreign_key="work_order.id", index=True)
    media_file_id: int = Field(foreign_key="media_file.id", index=True)
    community_id: int = Field(foreign_key="community.id")
    district_id: int = Field(foreign_key="district.id")
    added_by_id: int = Field(foreign_key="person.id")
    stage: str = Field(max_length=10, default="report")  # report or work
    created_at: datetime = utc_field(default_now=True)


class StaffProfile(SQLModel, table=True):
    """A field worker of the district's operator: what they can fix and which communities they cover."""

    __tablename__ = "staff_profile"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    community_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    on_duty: bool = True
    active: bool = True


WorkOrderRow = read_model(WorkOrder)  # a read-only row: a line of the district board
