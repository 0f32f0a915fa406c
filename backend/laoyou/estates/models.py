"""Districts (片区), communities (小区), buildings, units (房屋) and households.

Every table that holds resident data carries its community and district keys: a city partitions by district.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import read_model, utc_field


class District(SQLModel, table=True):
    __tablename__ = "district"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    city: str = Field(max_length=50)
    operator_name: str = Field(max_length=100)
    operator_phone: str = Field(max_length=20)  # E.164 of the operations centre
    contract_model: str = Field(max_length=50, default="joint_tender")
    created_at: datetime = utc_field(default_now=True)
    # Archived rather than deleted, like communities: grants, bills and briefings keep pointing at it.
    archived_at: datetime | None = utc_field(nullable=True)


class Community(SQLModel, table=True):
    __tablename__ = "community"

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    name: str = Field(max_length=100)
    address: str = Field(max_length=200)
    built_year: int | None = None
    on_duty_phone: str = Field(max_length=20)  # E.164; the big call button dials it
    # 挂单: a micro-community served by its neighbour's team.
    attached_to_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    attached_since: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)
    # Archived rather than deleted: bills, work orders and messages keep pointing at it.
    archived_at: datetime | None = utc_field(nullable=True)


class Building(SQLModel, table=True):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    name: str = Field(max_length=50)
    floors: int = 6
    archived_at: datetime | None = utc_field(nullable=True)


class Unit(SQLModel, table=True):
    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("building_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    number: str = Field(max_length=20)
    floor: int = 1
    # Hundredths of a square metre: 72.35 m² is 7235. Fees are priced per m², so no floats.
    floor_area_centi_m2: int = Field(ge=0)
    archived_at: datetime | None = utc_field(nullable=True)


class Household(SQLModel, table=True):
    __tablename__ = "household"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True, unique=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    head_name: str = Field(max_length=50)
    created_at: datetime = utc_field(default_now=True)
    # Archived when its home is gone (merged, demolished): its bills, work orders and cards keep pointing at it.
    archived_at: datetime | None = utc_field(nullable=True)


CommunityRow = read_model(Community)  # a read-only row: what a list shows of a community


class EstateImport(SQLModel, table=True):
    """A spreadsheet uploaded for a community's bulk import: previewed first, then applied or discarded.

    The file is kept only while the import is pending (confirming reads it again and re-plans it against the
    database as it is then); applying or discarding it drops the bytes, which hold residents' phones."""

    __tablename__ = "estate_import"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)  # who uploaded it
    filename: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(default="pending", max_length=10)  # pending, applied, discarded
    rows: int = 0
    new_count: int = 0
    changed_count: int = 0
    unchanged_count: int = 0
    error_count: int = 0
    # The rows that are not unchanged, errors first then changes then new, as JSON (see import_review).
    preview: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    created_at: datetime = utc_field(default_now=True)
    decided_at: datetime | None = utc_field(nullable=True)
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")
