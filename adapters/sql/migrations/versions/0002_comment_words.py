"""The latest feedback's comment as folded words, so the negative-comments rule is matched in SQL.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from domain.rules.negative_comments import comment_words

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("fb_words", sa.Text))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT seq, fb_comment FROM predictions WHERE fb_comment IS NOT NULL")).all()
    if rows:
        connection.execute(sa.text("UPDATE predictions SET fb_words = :words WHERE seq = :seq"),
                           [{"seq": seq, "words": comment_words(comment)} for seq, comment in rows])
    negative = sa.text("fb_value = 0 AND fb_words IS NOT NULL")
    op.create_index("ix_predictions_version_negative_comments", "predictions", ["version_id", "fb_at"],
                    sqlite_where=negative, postgresql_where=negative)


def downgrade() -> None:
    op.drop_index("ix_predictions_version_negative_comments", "predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("fb_words")
