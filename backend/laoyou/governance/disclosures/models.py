"""Quarterly finance disclosures (公示): one version per row, its lines, invoice photos, reads and questions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class DisclosureStatus(StrEnum):
    draft = "draft"
    published = "published"
    superseded = "superseded"  # a correction was published after it


class LineKind(StrEnum):
    income = "income"  # read from the community's books for the quarter
    spending = "spending"  # entered by the steward, with the invoices' photos
    staff_share = "staff_share"  # this community's share of the district's staff costs, computed by a key
    arrears = "arrears"  # property fees billed and still unpaid, from billing


class Disclosure(SQLModel, table=True):
    """One version of a community's disclosure for a quarter; frozen once published. A correction is the next
    version, pointing at the one it replaces."""

    __tablename__ = "disclosure"
    __table_args__ = (UniqueConstraint("community_id", "year", "quarter", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    year: int
    quarter: int
    version: int = 1
    previous_id: int | None = Field(default=None, foreign_key="disclosure.id")
    status: str = Field(default=DisclosureStatus.draft.value, max_length=12, index=True)
    note: str = Field(default="", max_length=500)  # what a correction corrects
    # The district's staff costs for the quarter and the key they are shared by (households or floor_area);
    # this community's weight and the district's total are kept as they were when computed.
    staff_cost_fen: int = 0
    staff_key: str = Field(default="", max_length=12)
    staff_weight: int = 0
    staff_weight_total: int = 0
    created_by_id: int = Field(foreign_key="person.id", index=True)
    published_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class DisclosureLine(SQLModel, table=True):
    __tablename__ = "disclosure_line"

    id: int | None = Field(default=None, primary_key=True)
    disclosure_id: int = Field(foreign_key="disclosure.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    kind: str = Field(max_length=12)
    fund: str = Field(max_length=20)
    # Empty for the lines the system names (fees collected, the staff share, arrears): shown translated.
    title: str = Field(default="", max_length=100)
    amount_fen: int
    position: int = 0


class DisclosureInvoice(SQLModel, table=True):
    """A photo of an invoice behind a spending line."""

    __tablename__ = "disclosure_invoice"
    __table_args__ = (UniqueConstraint("line_id", "media_id"),)

    id: int | None = Field(default=None, primary_key=True)
    line_id: int = Field(foreign_key="disclosure_line.id", index=True)
    disclosure_id: int = Field(foreign_key="disclosure.id", index=True)
    media_id: int = Field(foreign_key="media_file.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)


class DisclosureRead(SQLModel, table=True):
    """One person of one household has opened the disclosure; officials see it by household."""

    __tablename__ = "disclosure_read"
    __table_args__ = (UniqueConstraint("disclosure_id", "household_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    disclosure_id: int = Field(foreign_key="disclosure.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    read_at: datetime = utc_field(default_now=True)


class DisclosureQuestion(SQLModel, table=True):
    """A resident asked customer service about a line: the conversation it went to."""

    __tablename__ = "disclosure_question"

    id: int | None = Field(default=None, primary_key=True)
    disclosure_id: int = Field(foreign_key="disclosure.id", index=True)
    line_id: int = Field(foreign_key="disclosure_line.id", index=True)
    conversation_id: int = Field(foreign_key="support_conversation.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    created_at: datetime = utc_field(default_now=True)
