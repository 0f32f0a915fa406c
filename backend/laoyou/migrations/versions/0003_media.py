"""media: uploaded files

Revision ID: 0003_media
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_media"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("media",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(200), nullable=False, unique=True),
        sa.Column("thumb_key", sa.String(200), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("uploaded_by_id", "client_id"),
    )
    op.create_index("ix_media_file_community_id", "media_file", ["community_id"])
    op.create_index("ix_media_file_district_id", "media_file", ["district_id"])
    op.create_index("ix_media_file_uploaded_by_id", "media_file", ["uploaded_by_id"])
    op.create_index("ix_media_file_sha256", "media_file", ["sha256"])


def downgrade() -> None:
    op.drop_table("media_file")
