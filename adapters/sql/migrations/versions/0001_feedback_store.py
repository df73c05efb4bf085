"""The feedback store: predictions with their latest feedback, all feedback, hourly counts, review items.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.String(128), nullable=False, unique=True),
        sa.Column("version_id", sa.String(36), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("predicted_label", sa.String(256), nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("inference_ms", sa.Float),
        sa.Column("is_error", sa.SmallInteger, nullable=False),
        sa.Column("image_type", sa.String(64), nullable=False),
        sa.Column("image_sha256", sa.String(64)),
        sa.Column("user_ref", sa.String(128)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("fb_value", sa.SmallInteger),
        sa.Column("fb_at", sa.BigInteger),
        sa.Column("fb_comment", sa.Text),
        sa.Column("fb_corrected_label", sa.String(256)),
        sa.Column("fb_consent", sa.SmallInteger),
    )
    op.create_index("ix_predictions_version_ts", "predictions", ["version_id", "ts", "seq"])
    rated = sa.text("fb_value IS NOT NULL")
    op.create_index("ix_predictions_version_rated", "predictions", ["version_id", "ts", "seq"],
                    sqlite_where=rated, postgresql_where=rated)
    op.create_index("ix_predictions_version_image_type_rated", "predictions", ["version_id", "image_type", "ts", "seq"],
                    sqlite_where=rated, postgresql_where=rated)
    ok = sa.text("is_error = 0")
    op.create_index("ix_predictions_version_ok", "predictions", ["version_id", "ts", "seq", "inference_ms"],
                    sqlite_where=ok, postgresql_where=ok)
    op.create_index("ix_predictions_version_fb_at", "predictions", ["version_id", "fb_at"])
    op.create_index("ix_predictions_user_ref", "predictions", ["user_ref"])
    op.create_table(
        "feedback",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.String(128), nullable=False),
        sa.Column("user_feedback", sa.SmallInteger),
        sa.Column("feedback_at", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("corrected_label", sa.String(256)),
        sa.Column("gdpr_consent", sa.SmallInteger, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_index("ix_feedback_prediction", "feedback", ["prediction_id", "fingerprint"])
    op.create_table(
        "hourly_counts",
        sa.Column("version_id", sa.String(36), primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("predictions", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "review_items",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("item", sa.String(128), primary_key=True),
        sa.Column("prediction_id", sa.String(128), nullable=False),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("label_source", sa.String(32), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16)),
        sa.Column("decided_label", sa.String(256)),
        sa.Column("actor", sa.String(200)),
    )


def downgrade() -> None:
    for table in ("review_items", "hourly_counts", "feedback", "predictions"):
        op.drop_table(table)
