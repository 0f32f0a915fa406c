"""A consented care record per elderly resident, and the visits recorded on it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class Living(StrEnum):
    alone = "alone"
    with_spouse = "with_spouse"
    with_family = "with_family"
    with_carer = "with_carer"


class Mobility(StrEnum):
    independent = "independent"
    walks_with_aid = "walks_with_aid"
    wheelchair = "wheelchair"
    bedridden = "bedridden"


# Needs are picked from these, never typed: the ledger holds no diagnosis.
NEEDS = ("hearing", "sight", "memory", "medication", "meals", "stairs", "shopping", "company")
VISIT_TIMES = ("morning", "afternoon", "evening")


class ConsentMethod(StrEnum):
    phone = "phone"  # the resident tapped consent on her own phone
    paper = "paper"  # signed on paper; the steward keeps its photo


class Finding(StrEnum):
    all_well = "all_well"
    needs_help = "needs_help"
    not_home = "not_home"


class CareRecord(SQLModel, table=True):
    """One resident's record; withdrawn consent hides it from staff (the row stays for the resident's own view)."""

    __tablename__ = "care_record"
    __table_args__ = (UniqueConstraint("resident_id"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    living: str = Field(default=Living.alone.value, max_length=20)
    mobility: str = Field(default=Mobility.independent.value, max_length=20)
    needs: str = Field(default="", max_length=200)  # comma-separated NEEDS
    visit_times: str = Field(default="", max_length=50)  # comma-separated VISIT_TIMES
    contact_name: str = Field(default="", max_length=50)  # an emergency contact beyond the family links
    contact_phone: str = Field(default="", max_length=20)
    consent_method: str = Field(max_length=10)
    consent_by_id: int = Field(foreign_key="person.id")  # who recorded it: the resident or the steward
    consent_at: datetime = utc_field()
    consent_photo_id: int | None = Field(default=None, foreign_key="media_file.id")
    withdrawn_at: datetime | None = utc_field(nullable=True)
    withdrawn_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class CareVisit(SQLModel, table=True):
    __tablename__ = "care_visit"

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="care_record.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    visited_on: date
    visitor_id: int = Field(foreign_key="person.id")
    finding: str = Field(max_length=20)
    note: str = Field(default="", max_length=200)
    follow_up: str = Field(default="", max_length=200)
    work_order_id: int | None = Field(default=None, foreign_key="work_order.id")
    created_at: datetime = utc_field(default_now=True)
