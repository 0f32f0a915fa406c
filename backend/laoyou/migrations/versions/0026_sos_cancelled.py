"""support: the resident may cancel her own SOS ("I am fine"); when she did is kept apart from a staff resolve

Revision ID: 0026_sos_cancelled
Revises: 0013_message_ids (the support branch)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_sos_cancelled"
down_revision: str | None = "0013_message_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("support_sos") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("support_sos") as batch:
        batch.drop_column("cancelled_at")
