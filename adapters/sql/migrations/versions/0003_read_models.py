"""The read models: documents, history rows and concerns, and the log position they reflect.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "view_position",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO view_position (name, position) VALUES ('views', 0)")
    op.create_table(
        "view_documents",
        sa.Column("aggregate_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("active", sa.SmallInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_index("ix_view_documents_kind_created", "view_documents", ["kind", "created"])
    op.create_table(
        "view_events",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("aggregate_id", sa.String(36), nullable=False),
        sa.Column("row", sa.Text, nullable=False),
    )
    op.create_index("ix_view_events_aggregate", "view_events", ["aggregate_id", "position"])
    op.create_index("ix_view_events_event_id", "view_events", ["event_id"])
    op.create_index("ix_view_events_ts", "view_events", ["ts"])
    op.create_table(
        "view_event_concerns",
        sa.Column("concern", sa.String(80), primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    )


def downgrade() -> None:
    for table in ("view_event_concerns", "view_events", "view_documents", "view_position"):
        op.drop_table(table)
