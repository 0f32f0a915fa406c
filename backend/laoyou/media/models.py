"""Uploaded files: photos (re-encoded, with a thumbnail), voice notes and short videos."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class MediaFile(SQLModel, table=True):
    __tablename__ = "media_file"
    __table_args__ = (UniqueConstraint("uploaded_by_id", "client_id"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    uploaded_by_id: int = Field(foreign_key="person.id", index=True)
    # Made by the client, so a retried or replayed upload returns the first file.
    client_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=10)  # image, audio, video
    content_type: str = Field(max_length=50)
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    storage_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    thumb_key: str | None = Field(default=None, max_length=200)
    sha256: str = Field(max_length=64, index=True)
    created_at: datetime = utc_field(default_now=True)
