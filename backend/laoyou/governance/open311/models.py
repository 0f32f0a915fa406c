"""Open311 API keys: a city's 12345 platform or another Open311 client, tied to a district or one community."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from laoyou.core.models import utc_field


class KeyKind(StrEnum):
    public = "public"  # files reports and reads open data: no names, phones or units
    integration = "integration"  # the operator's own staff systems: also the reporter's name, phone and unit


class Open311Key(SQLModel, table=True):
    __tablename__ = "open311_key"

    id: int | None = Field(default=None, primary_key=True)
    # sha256 of the key; the key itself is shown once, when it is made.
    key_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=12)
    district_id: int = Field(foreign_key="district.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="community.id")  # None: the whole district
    # The admin the key acts for: reports it files are logged as taken by them.
    created_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    revoked_at: datetime | None = utc_field(nullable=True)
