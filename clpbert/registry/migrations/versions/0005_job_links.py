"""Multi-node job links on `runs`: `job_id` (node 0's run id), `node_rank` and `job_nodes` (every
node's run id and host, learnt at the rendezvous), so node runs of one job can find each other.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("node_rank", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("job_nodes", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_job_id"))
        batch_op.drop_column("job_nodes")
        batch_op.drop_column("node_rank")
        batch_op.drop_column("job_id")
