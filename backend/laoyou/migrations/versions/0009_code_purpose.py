"""sms codes: a code sent by SMS says what it is for (logging in, or a staff member setting their password)

Revision ID: 0009_code_purpose
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_code_purpose"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("sms_codes",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_code") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=10), server_default="login", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("login_code") as batch:
        batch.drop_column("purpose")
