"""GPU sample retention bookkeeping: `gpu_compaction` (how far each run's samples are compacted),
`maintenance` (rate limit, claim and progress of periodic chores) and an index on `runs.ended`
(a pass looks only at the runs that ended since the last one).

Revision ID: 0002
Revises: 0001

Name the file NNNN_<slug>.py and use revision id NNNN (the next number): clpbert lists known
revisions from the file names without importing Alembic.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gpu_compaction",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("compacted_until", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_gpu_compaction_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_gpu_compaction")),
    )
    op.create_table(
        "maintenance",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("watermark", sa.Float(), nullable=True),
        sa.Column("pass_cutoff", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_ended"), ["ended"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_ended"))
    op.drop_table("maintenance")
    op.drop_table("gpu_compaction")
