"""A person who is not yet linked to a home asks to be; a steward of that community confirms or declines."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from laoyou.core.models import utc_field


class LinkRequestStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    declined = "declined"
    cancelled = "cancelled"  # by the person who asked


class LinkRequest(SQLModel, table=True):
    """What the person typed, the household it matched and how they say they belong to it."""

    __tablename__ = "link_request"
    # One open request per person: asking again updates it, and two quick taps cannot make a second one.
    __table_args__ = (
        Index(
            "uq_link_request_pending_person",
            "person_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    # Only a request that matched a household is kept: one that matches none is refused and changes nothing.
    household_id: int = Field(foreign_key="household.id", index=True)
    building_text: str = Field(max_length=50)
    unit_text: str = Field(max_length=20)
    name: str = Field(max_length=50)  # the name they gave, kept if the person already has one
    relation: str = Field(max_length=10)  # estates.onboarding.Relation: owner, tenant or family
    status: str = Field(max_length=10, default=LinkRequestStatus.pending.value)
    reason: str = Field(default="", max_length=100)  # a steward's short reason for declining
    created_at: datetime = utc_field(default_now=True)
    decided_at: datetime | None = utc_field(nullable=True)
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")
