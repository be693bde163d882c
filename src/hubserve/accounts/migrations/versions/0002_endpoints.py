"""Inference Endpoints' stored specs, and the endpoint a usage record was for.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the endpoints table; usage records gain an endpoint column."""
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("namespace", sa.String(96), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("updated_by", sa.String(96), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.UniqueConstraint("namespace", "name", name="uq_endpoints_namespace_name"),
    )
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(193), nullable=True))


def downgrade() -> None:
    """Drop the endpoints table and the usage records' endpoint column."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("endpoint")
    op.drop_table("endpoints")
