"""`process_samples`: 1 Hz CPU %, RSS and read rate of each run's process tree (supervisor).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("processes", sa.Integer(), nullable=False),
        sa.Column("cpu_pct", sa.Float(), nullable=True),
        sa.Column("rss_mib", sa.Float(), nullable=True),
        sa.Column("read_mib_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_process_samples_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_samples")),
    )
    with op.batch_alter_table("process_samples", schema=None) as batch_op:
        batch_op.create_index("ix_process_samples_run_time", ["run_id", "time"], unique=False)


def downgrade() -> None:
    op.drop_table("process_samples")
