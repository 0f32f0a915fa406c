"""The daily check-in's morning reminder: the last day it was sent, claimed once a day.

Revision ID: 0022_checkin_reminder
Revises: 0019_care
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_checkin_reminder"
down_revision: str | None = "0019_care"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("care_checkin_plan", sa.Column("reminded_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("care_checkin_plan", "reminded_on")
