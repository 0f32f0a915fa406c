"""residents: a resident's grant says whether they own or rent the home

Revision ID: 0008_resident_tenure
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_resident_tenure"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("residents",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("role_grant") as batch:
        batch.add_column(sa.Column("tenure", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("role_grant") as batch:
        batch.drop_column("tenure")
