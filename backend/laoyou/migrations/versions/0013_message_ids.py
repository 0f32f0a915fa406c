"""support: what the service itself says in a conversation is kept as a message id and its parameters, so each
reader sees it in their own language

Revision ID: 0013_message_ids
Revises: 0006_support
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_message_ids"
down_revision: str | None = "0006_support"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("support_message") as batch:
        batch.add_column(sa.Column("msgid", sa.Text(), nullable=True))
        batch.add_column(sa.Column("params", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("support_message") as batch:
        batch.drop_column("params")
        batch.drop_column("msgid")
