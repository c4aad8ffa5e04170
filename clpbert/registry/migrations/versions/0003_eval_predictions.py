"""eval_predictions: each evaluation's saved predictions file (eval id -> path, kind, row count).

Revision ID: 0003
Revises: 0002

Name the file NNNN_<slug>.py and use revision id NNNN (the next number): clpbert lists known
revisions from the file names without importing Alembic.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_predictions",
        sa.Column("eval_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["eval_id"], ["evals.id"], name=op.f("fk_eval_predictions_eval_id_evals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_eval_predictions_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("eval_id", name=op.f("pk_eval_predictions")),
    )
    with op.batch_alter_table("eval_predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eval_predictions_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("eval_predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eval_predictions_run_id"))
    op.drop_table("eval_predictions")
