"""billing: each person's openid under the official account, for paying inside WeChat (JSAPI)

Revision ID: 0014_wechat_openid
Revises: 0002b_billing
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014_wechat_openid"
down_revision: str | None = "0002b_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_payer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("appid", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("openid", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "appid"),
    )
    with op.batch_alter_table("wechat_payer") as batch:
        batch.create_index(batch.f("ix_wechat_payer_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wechat_payer") as batch:
        batch.drop_index(batch.f("ix_wechat_payer_person_id"))
    op.drop_table("wechat_payer")
