"""Briefings, the communities they are for, their photos and video, read receipts and thanks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class BriefingStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    published = "published"
    withdrawn = "withdrawn"


class BriefingItemKind(StrEnum):
    cleaning = "cleaning"
    repair = "repair"
    patrol = "patrol"
    other = "other"


class Briefing(SQLModel, table=True):
    """The content, written once; BriefingAudience says which communities it is for."""

    __tablename__ = "briefing"

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(foreign_key="person.id", index=True)
    title: str = Field(max_length=100)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # [{"kind": "cleaning", "text": "..."}], what the team did today.
    items_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    status: str = Field(default=BriefingStatus.draft.value, max_length=12, index=True)
    publish_at: datetime | None = utc_field(nullable=True, index=True)
    published_at: datetime | None = utc_field(nullable=True, index=True)
    edited_at: datetime | None = utc_field(nullable=True)
    withdrawn_at: datetime | None = utc_field(nullable=True)
    # Unguessable: the public share page is reachable by it alone.
    share_token: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class BriefingAudience(SQLModel, table=True):
    __tablename__ = "briefing_audience"
    __table_args__ = (UniqueConstraint("briefing_id", "community_id"),)

    id: int | None = Field(default=None, primary_key=True)
    briefing_id: int = Field(foreign_key="briefing.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)


class BriefingMedia(SQLModel, table=True):
    __tablename__ = "briefing_media"
    __table_args__ = (UniqueConstraint("briefing_id", "media_id"),)

    id: int | None = Field(default=None, primary_key=True)
    briefing_id: int = Field(foreign_key="briefing.id", index=True)
    media_id: int = Field(foreign_key="media_file.id", index=True)
    kind: str = Field(max_length=10)  # image or video
    position: int = 0


class BriefingRead(SQLModel, table=True):
    """One person of one household has seen the briefing; stewards count distinct households."""

    __tablename__ = "briefing_read"
    __table_args__ = (UniqueConstraint("briefing_id", "household_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    briefing_id: int = Field(foreign_key="briefing.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    read_at: datetime = utc_field(default_now=True)


class BriefingThanks(SQLModel, table=True):
    __tablename__ = "briefing_thanks"
    __table_args__ = (UniqueConstraint("briefing_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    briefing_id: int = Field(foreign_key="briefing.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    created_at: datetime = utc_field(default_now=True)
