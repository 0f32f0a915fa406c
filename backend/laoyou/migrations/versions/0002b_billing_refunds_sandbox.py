"""billing: refunds through the gateway, invoice photos on ledger entries, the sandbox's persisted orders

Revision ID: 0002b_billing
Revises: 0002_billing
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002b_billing"
down_revision: str | None = "0002_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0003_media"  # ledger_attachment points at media_file


def upgrade() -> None:
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.add_column(sa.Column("out_refund_no", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="succeeded",
            )
        )
        batch_op.add_column(
            sa.Column(
                "provider_refund_id",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_refund_out_refund_no", ["out_refund_no"])
        batch_op.create_index(batch_op.f("ix_refund_status"), ["status"], unique=False)

    op.create_table(
        "ledger_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entry.id"]),
        sa.ForeignKeyConstraint(["media_id"], ["media_file.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "media_id"),
    )
    with op.batch_alter_table("ledger_attachment", schema=None) as batch_op:
        for column in ("entry_id", "media_id", "community_id", "district_id"):
            batch_op.create_index(batch_op.f(f"ix_ledger_attachment_{column}"), [column], unique=False)

    op.create_table(
        "sandbox_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("success_time", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("refunds", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("out_trade_no"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_order")
    op.drop_table("ledger_attachment")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_status"))
        batch_op.drop_constraint("uq_refund_out_refund_no", type_="unique")
        for column in ("confirmed_at", "provider_refund_id", "status", "out_refund_no"):
            batch_op.drop_column(column)
