"""Each resident's check-in plan, and one row per local day that needed attention (checked in or missed)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class DayState(StrEnum):
    checked_in = "checked_in"
    missed = "missed"  # the window passed: the resident was reminded
    family_told = "family_told"  # an hour later: family by push and SMS
    steward_paged = "steward_paged"  # two hours later: the steward on duty must record an outcome
    resolved = "resolved"  # someone confirmed after a miss, or the steward recorded the outcome


class How(StrEnum):
    button = "button"  # 我很好 on the home page
    push = "push"  # opened the morning push
    app = "app"  # opened the app
    visit = "visit"  # the steward's visit
    family = "family"  # a family member confirmed she is fine
    steward = "steward"  # the steward's recorded outcome


class Outcome(StrEnum):
    all_well = "all_well"
    needs_help = "needs_help"
    not_reachable = "not_reachable"  # raises an SOS


class CheckinPlan(SQLModel, table=True):
    __tablename__ = "care_checkin_plan"
    __table_args__ = (UniqueConstraint("resident_id"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    window_end: int  # minutes after local midnight (Asia/Shanghai) by which she checks in
    starts_on: date  # the first local day it counts (a plan made after today's window starts tomorrow)
    paused_until: date | None = None  # the last local day of a pause, inclusive
    reminded_on: date | None = (
        None  # the last local day she was sent the morning reminder (claimed once a day)
    )
    active: bool = True
    set_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)


class CheckinDay(SQLModel, table=True):
    """The unique (resident, day) is what keeps one miss from alarming twice; each step is a guarded UPDATE."""

    __tablename__ = "care_checkin_day"
    __table_args__ = (UniqueConstraint("resident_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="care_checkin_plan.id", index=True)
    resident_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    day: date = Field(index=True)
    state: str = Field(max_length=20, index=True)
    how: str | None = Field(default=None, max_length=10)  # what confirmed she is fine
    reason: str = Field(default="", max_length=100)  # why it was missed (the window, a sensor)
    checked_in_at: datetime | None = utc_field(nullable=True)
    missed_at: datetime | None = utc_field(nullable=True)
    family_told_at: datetime | None = utc_field(nullable=True)
    paged_at: datetime | None = utc_field(nullable=True)
    handler_id: int | None = Field(default=None, foreign_key="person.id")
    outcome: str | None = Field(default=None, max_length=20)
    resolved_at: datetime | None = utc_field(nullable=True)
    resolved_by_id: int | None = Field(default=None, foreign_key="person.id")
