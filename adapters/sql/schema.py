"""The feedback store's tables (SQLAlchemy Core). Times are integer microseconds since the epoch, UTC."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, SmallInteger, String, Table, Text

metadata = MetaData()

predictions = Table(
    "predictions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("prediction_id", String(128), nullable=False, unique=True),
    Column("version_id", String(36), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("predicted_label", String(256), nullable=False),
    Column("confidence", Float),
    Column("inference_ms", Float),
    Column("is_error", SmallInteger, nullable=False),
    Column("image_type", String(64), nullable=False),
    Column("image_sha256", String(64)),
    Column("user_ref", String(128)),
    Column("fingerprint", String(64), nullable=False),
    # The latest feedback, kept beside the prediction so that every window is one index range scan.
    Column("fb_value", SmallInteger),
    Column("fb_at", BigInteger),
    Column("fb_comment", Text),
    Column("fb_corrected_label", String(256)),
    Column("fb_consent", SmallInteger),
    Column("fb_words", Text),  # the comment's folded words (domain.rules.negative_comments.comment_words)
)
Index("ix_predictions_version_ts", predictions.c.version_id, predictions.c.ts, predictions.c.seq)
Index(
    "ix_predictions_version_rated", predictions.c.version_id, predictions.c.ts, predictions.c.seq,
    sqlite_where=predictions.c.fb_value.isnot(None), postgresql_where=predictions.c.fb_value.isnot(None),
)
Index(
    "ix_predictions_version_image_type_rated", predictions.c.version_id, predictions.c.image_type, predictions.c.ts,
    predictions.c.seq, sqlite_where=predictions.c.fb_value.isnot(None),
    postgresql_where=predictions.c.fb_value.isnot(None),
)
Index(
    "ix_predictions_version_ok", predictions.c.version_id, predictions.c.ts, predictions.c.seq,
    predictions.c.inference_ms,
    sqlite_where=predictions.c.is_error == 0, postgresql_where=predictions.c.is_error == 0,
)
Index("ix_predictions_version_fb_at", predictions.c.version_id, predictions.c.fb_at)
Index("ix_predictions_user_ref", predictions.c.user_ref)
Index(
    "ix_predictions_version_negative_comments", predictions.c.version_id, predictions.c.fb_at,
    sqlite_where=(predictions.c.fb_value == 0) & predictions.c.fb_words.isnot(None),
    postgresql_where=(predictions.c.fb_value == 0) & predictions.c.fb_words.isnot(None),
)

feedback = Table(
    "feedback",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("prediction_id", String(128), nullable=False),
    Column("user_feedback", SmallInteger),
    Column("feedback_at", BigInteger, nullable=False),
    Column("comment", Text),
    Column("corrected_label", String(256)),
    Column("gdpr_consent", SmallInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
)
Index("ix_feedback_prediction", feedback.c.prediction_id, feedback.c.fingerprint)

hourly_counts = Table(
    "hourly_counts",
    metadata,
    Column("version_id", String(36), primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("predictions", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
)

review_items = Table(
    "review_items",
    metadata,
    Column("campaign_id", String(36), primary_key=True),
    Column("item", String(128), primary_key=True),
    Column("prediction_id", String(128), nullable=False),
    Column("label", String(256), nullable=False),
    Column("label_source", String(32), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("image_sha256", String(64), nullable=False),
    Column("decision", String(16)),
    Column("decided_label", String(256)),
    Column("actor", String(200)),
)

# -- the read models (application.read_models): documents and history rows, and the log position they reflect --
view_position = Table(
    "view_position",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

view_documents = Table(
    "view_documents",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("active", SmallInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
)
Index("ix_view_documents_kind_created", view_documents.c.kind, view_documents.c.created)

view_events = Table(
    "view_events",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("row", Text, nullable=False),
)
Index("ix_view_events_aggregate", view_events.c.aggregate_id, view_events.c.position)
Index("ix_view_events_event_id", view_events.c.event_id)
Index("ix_view_events_ts", view_events.c.ts)

view_event_concerns = Table(
    "view_event_concerns",
    metadata,
    Column("concern", String(80), primary_key=True),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
)
