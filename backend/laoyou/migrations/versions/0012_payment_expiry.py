"""billing: an online order's expiry, money taken after it (credited or refunded, and reported once), the
sandbox's record of the expiry it was given, and room for Alipay's pay URL (the whole signed request)

Revision ID: 0012_payment_expiry
Revises: 0002b_billing
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012_payment_expiry"
down_revision: str | None = "0002b_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("late", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))
        batch.add_column(sa.Column("late_reported_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_payment_late"), ["late"], unique=False)
        batch.alter_column(
            "pay_url",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
            type_=sqlmodel.sql.sqltypes.AutoString(length=2000),
            existing_nullable=False,
        )
    with op.batch_alter_table("sandbox_order") as batch:
        batch.add_column(
            sa.Column(
                "time_expire", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False, server_default=""
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_order") as batch:
        batch.drop_column("time_expire")
    with op.batch_alter_table("payment") as batch:
        batch.alter_column(
            "pay_url",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=2000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=500),
            existing_nullable=False,
        )
        batch.drop_index(batch.f("ix_payment_late"))
        batch.drop_column("late_reported_at")
        batch.drop_column("late")
        batch.drop_column("expires_at")
