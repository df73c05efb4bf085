"""FeedbackStore on SQLAlchemy: SQLite by default, PostgreSQL by URL; schema versioned with Alembic."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.sqlalchemy_schema import feedback, hourly_counts, predictions, review_items
from application.records import KnownPrediction, RatedOutcome, ReviewItem, StoredFeedback, StoredPrediction
from domain.rules.curation import Candidate
from domain.rules.phase_health import PhaseStats

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
HOUR_US = 3_600_000_000
CHUNK = 900  # bound parameters per IN (...) list


def to_us(moment: datetime) -> int:
    """Exact integer microseconds since the epoch (no float rounding)."""
    return (moment - EPOCH) // MICRO


def from_us(value: int) -> datetime:
    return EPOCH + value * MICRO


def sqlalchemy_url(url: str) -> str:
    """psycopg 3 is the PostgreSQL driver."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class SqlAlchemyFeedbackStore:
    """Predictions with their latest feedback beside them, every feedback record, hourly counts, review items."""

    def __init__(self, url: str) -> None:
        url = sqlalchemy_url(url)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    def migrate(self) -> None:
        """Apply the Alembic migrations up to head (idempotent; runs at every start)."""
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[_SqlWriter]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        with self.engine.begin() as connection:
            yield _SqlWriter(connection)

    def add(self, new_predictions: Sequence[StoredPrediction], new_feedback: Sequence[StoredFeedback]) -> None:
        with self.writer() as writer:
            writer.add(new_predictions, new_feedback)

    # -- the windows of rule 4.1 --------------------------------------------------------------------------
    def _rated(self, connection: Connection, version_id: str, now: int) -> Any:
        """Predictions of the version served by `now`, with their latest feedback given by `now`."""
        p = predictions
        future = connection.execute(
            select(literal_column("1")).where(p.c.version_id == version_id, p.c.fb_at > now).limit(1)
        ).first()
        if future is None:  # common case: the latest feedback columns are already "as of now"
            return (
                select(p.c.seq, p.c.ts, p.c.image_type, p.c.fb_value, p.c.fb_at, p.c.fb_comment,
                       p.c.fb_corrected_label, p.c.fb_consent, p.c.prediction_id, p.c.predicted_label,
                       p.c.confidence, p.c.image_sha256)
                .where(p.c.version_id == version_id, p.c.ts <= now, p.c.fb_value.isnot(None), p.c.fb_at <= now)
                .subquery("rated")
            )
        f = feedback
        ranked = (
            select(
                f.c.prediction_id, f.c.user_feedback, f.c.feedback_at, f.c.comment, f.c.corrected_label,
                f.c.gdpr_consent,
                func.row_number().over(partition_by=f.c.prediction_id,
                                       order_by=(f.c.feedback_at.desc(), f.c.seq.desc())).label("rank"),
            )
            .join(p, p.c.prediction_id == f.c.prediction_id)
            .where(p.c.version_id == version_id, p.c.ts <= now, f.c.feedback_at <= now)
            .subquery("ranked")
        )
        return (
            select(p.c.seq, p.c.ts, p.c.image_type, ranked.c.user_feedback.label("fb_value"),
                   ranked.c.feedback_at.label("fb_at"), ranked.c.comment.label("fb_comment"),
                   ranked.c.corrected_label.label("fb_corrected_label"), ranked.c.gdpr_consent.label("fb_consent"),
                   p.c.prediction_id, p.c.predicted_label, p.c.confidence, p.c.image_sha256)
            .join(ranked, and_(ranked.c.prediction_id == p.c.prediction_id, ranked.c.rank == 1))
            .where(ranked.c.user_feedback.isnot(None))
            .subquery("rated")
        )

    def rated_outcomes(
        self, version_id: str, *, as_of: datetime, limit: int, image_type: str | None = None
    ) -> list[RatedOutcome]:
        with self.engine.connect() as connection:
            rated = self._rated(connection, version_id, to_us(as_of))
            query = select(rated.c.ts, rated.c.fb_value)
            if image_type is not None:
                query = query.where(rated.c.image_type == image_type)
            rows = connection.execute(query.order_by(rated.c.ts.desc(), rated.c.seq.desc()).limit(limit)).all()
        return [RatedOutcome(from_us(ts), bool(value)) for ts, value in reversed(rows)]

    def rated_outcomes_by_image_type(
        self, version_id: str, *, as_of: datetime, limit: int
    ) -> dict[str, list[RatedOutcome]]:
        now = to_us(as_of)
        with self.engine.connect() as connection:
            rated = self._rated(connection, version_id, now)
            types = connection.execute(select(rated.c.image_type).distinct()).scalars().all()
        return {t: self.rated_outcomes(version_id, as_of=as_of, limit=limit, image_type=t) for t in sorted(types)}

    def ok_latencies(self, version_id: str, *, as_of: datetime, limit: int, first: bool = False) -> list[float]:
        p = predictions
        order = (p.c.ts.asc(), p.c.seq.asc()) if first else (p.c.ts.desc(), p.c.seq.desc())
        query = (
            select(p.c.inference_ms)
            .where(p.c.version_id == version_id, p.c.is_error == 0, p.c.ts <= to_us(as_of), p.c.inference_ms.isnot(None))
            .order_by(*order)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            values = [float(v) for v in connection.execute(query).scalars()]
        return values if first else values[::-1]

    def error_counts(self, version_id: str, *, since: datetime, until: datetime) -> tuple[int, int]:
        """Errors and predictions with since < ts <= until: whole hours from the hourly counts, edges exactly."""
        low, high = to_us(since), to_us(until)
        first_full, last_full = low // HOUR_US + 1, high // HOUR_US - 1
        p, h = predictions, hourly_counts
        with self.engine.connect() as connection:
            def exact(a: int, b: int) -> tuple[int, int]:
                row = connection.execute(
                    select(func.count(), func.coalesce(func.sum(p.c.is_error), 0))
                    .where(p.c.version_id == version_id, p.c.ts > a, p.c.ts <= b)
                ).one()
                return int(row[1]), int(row[0])

            if first_full > last_full:
                return exact(low, high)
            head = exact(low, first_full * HOUR_US - 1)
            tail = exact((last_full + 1) * HOUR_US - 1, high)
            middle = connection.execute(
                select(func.coalesce(func.sum(h.c.errors), 0), func.coalesce(func.sum(h.c.predictions), 0))
                .where(h.c.version_id == version_id, h.c.hour >= first_full, h.c.hour <= last_full)
            ).one()
        return head[0] + tail[0] + int(middle[0]), head[1] + tail[1] + int(middle[1])

    def negative_comments(self, version_id: str, *, since: datetime, until: datetime) -> list[str]:
        now = to_us(until)
        with self.engine.connect() as connection:
            rated = self._rated(connection, version_id, now)
            query = select(rated.c.fb_comment).where(
                rated.c.fb_value == 0, rated.c.fb_comment.isnot(None), rated.c.fb_at > to_us(since), rated.c.fb_at <= now
            )
            return [c for c in connection.execute(query).scalars() if c]

    def phase_stats(self, version_id: str, *, since: datetime, until: datetime) -> PhaseStats:
        low, high = to_us(since), to_us(until)
        p = predictions
        with self.engine.connect() as connection:
            total, errors, ok, mean = connection.execute(
                select(
                    func.count(), func.coalesce(func.sum(p.c.is_error), 0),
                    func.count(p.c.inference_ms), func.avg(p.c.inference_ms),
                ).where(p.c.version_id == version_id, p.c.ts >= low, p.c.ts <= high)
            ).one()
            rated = self._rated(connection, version_id, high)
            rated_count, satisfied = connection.execute(
                select(func.count(), func.coalesce(func.sum(rated.c.fb_value), 0)).where(rated.c.ts >= low)
            ).one()
        return PhaseStats(
            predictions=int(total), errors=int(errors), rated=int(rated_count), satisfied=int(satisfied),
            mean_latency_ms=float(mean) if mean is not None else None, ok_predictions=int(ok),
        )

    # -- curation and review ------------------------------------------------------------------------------
    def curation_candidates(
        self, version_ids: Sequence[str], *, since: datetime | None, as_of: datetime
    ) -> list[Candidate]:
        now = to_us(as_of)
        candidates: list[tuple[int, Candidate]] = []
        with self.engine.connect() as connection:
            for version_id in version_ids:
                rated = self._rated(connection, version_id, now)
                query = select(rated)
                if since is not None:
                    query = query.where(rated.c.fb_at > to_us(since))
                for row in connection.execute(query).mappings():
                    candidates.append((row["seq"], _candidate(row)))
        return [c for _, c in sorted(candidates, key=lambda pair: pair[0])]

    def save_review_items(self, items: Sequence[ReviewItem]) -> None:
        if not items:
            return
        with self.engine.begin() as connection:
            connection.execute(review_items.insert(), [
                {"campaign_id": i.campaign_id, "item": i.item, "prediction_id": i.prediction_id, "label": i.label,
                 "label_source": i.label_source, "reasons": json.dumps(list(i.reasons)),
                 "image_sha256": i.image_sha256, "decision": i.decision, "decided_label": i.decided_label,
                 "actor": i.actor}
                for i in items
            ])

    def review_items(self, campaign_id: str) -> list[ReviewItem]:
        r = review_items
        with self.engine.connect() as connection:
            rows = connection.execute(select(r).where(r.c.campaign_id == campaign_id).order_by(r.c.item)).mappings()
            return [
                ReviewItem(row["campaign_id"], row["item"], row["prediction_id"], row["label"], row["label_source"],
                           tuple(json.loads(row["reasons"])), row["image_sha256"], row["decision"],
                           row["decided_label"], row["actor"])
                for row in rows
            ]

    def decide_review_item(self, campaign_id: str, item: str, *, decision: str, label: str | None, actor: str) -> None:
        r = review_items
        with self.engine.begin() as connection:
            connection.execute(
                r.update().where(r.c.campaign_id == campaign_id, r.c.item == item)
                .values(decision=decision, decided_label=label, actor=actor)
            )


class _SqlWriter:
    """Writes of one transaction; the store commits or rolls it back as a whole."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _by_ids(self, sql: str, prediction_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows for a long list of prediction ids, CHUNK ids per query (a plain driver query: this is the bulk path)."""
        ids = list(prediction_ids)
        style = "?" if self.connection.dialect.name == "sqlite" else "%s"
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            yield from self.connection.exec_driver_sql(sql.format(", ".join([style] * len(chunk))), tuple(chunk))

    def known(self, prediction_ids: Sequence[str]) -> dict[str, KnownPrediction]:
        sql = "SELECT prediction_id, fingerprint, version_id FROM predictions WHERE prediction_id IN ({})"
        return {pid: KnownPrediction(fp, version_id) for pid, fp, version_id in self._by_ids(sql, prediction_ids)}

    def feedback_fingerprints(self, prediction_ids: Sequence[str]) -> set[tuple[str, str]]:
        sql = "SELECT prediction_id, fingerprint FROM feedback WHERE prediction_id IN ({})"
        return {(pid, fp) for pid, fp in self._by_ids(sql, prediction_ids)}

    def add(self, new_predictions: Sequence[StoredPrediction], new_feedback: Sequence[StoredFeedback]) -> None:
        if new_predictions:
            if self.connection.dialect.name == "sqlite":  # the bulk path: plain tuples straight to the driver
                self.connection.exec_driver_sql(_SQLITE_INSERT_PREDICTIONS, [_prediction_tuple(p) for p in new_predictions])
            else:
                self.connection.execute(predictions.insert(), [_prediction_row(p) for p in new_predictions])
            self._count_hours(new_predictions)
        if new_feedback:
            rows = [_feedback_row(f) for f in new_feedback]
            if self.connection.dialect.name == "sqlite":
                self.connection.exec_driver_sql(_SQLITE_INSERT_FEEDBACK, [tuple(r.values()) for r in rows])
            else:
                self.connection.execute(feedback.insert(), rows)
            p = predictions
            latest = (
                p.update()
                .where(p.c.prediction_id == bindparam("b_prediction_id"),
                       or_(p.c.fb_at.is_(None), p.c.fb_at <= bindparam("b_at")))
                .values(fb_value=bindparam("b_value"), fb_at=bindparam("b_at"), fb_comment=bindparam("b_comment"),
                        fb_corrected_label=bindparam("b_label"), fb_consent=bindparam("b_consent"))
            )
            self.connection.execute(latest, [
                {"b_prediction_id": r["prediction_id"], "b_value": r["user_feedback"], "b_at": r["feedback_at"],
                 "b_comment": r["comment"], "b_label": r["corrected_label"], "b_consent": r["gdpr_consent"]}
                for r in rows
            ])

    def _count_hours(self, new_predictions: Sequence[StoredPrediction]) -> None:
        totals: Counter[tuple[str, int]] = Counter()
        errors: Counter[tuple[str, int]] = Counter()
        for p in new_predictions:
            key = (p.version_id, to_us(p.timestamp) // HOUR_US)
            totals[key] += 1
            errors[key] += p.status == "error"
        insert = (postgresql_insert if self.connection.dialect.name == "postgresql" else sqlite_insert)(hourly_counts)
        upsert = insert.on_conflict_do_update(
            index_elements=[hourly_counts.c.version_id, hourly_counts.c.hour],
            set_={"predictions": hourly_counts.c.predictions + insert.excluded.predictions,
                  "errors": hourly_counts.c.errors + insert.excluded.errors},
        )
        self.connection.execute(upsert, [
            {"version_id": v, "hour": h, "predictions": n, "errors": errors[(v, h)]} for (v, h), n in totals.items()
        ])


_PREDICTION_COLUMNS = ("prediction_id", "version_id", "ts", "predicted_label", "confidence", "inference_ms", "is_error",
                       "image_type", "image_sha256", "user_ref", "fingerprint")
_SQLITE_INSERT_PREDICTIONS = (
    f"INSERT INTO predictions ({', '.join(_PREDICTION_COLUMNS)}) VALUES ({', '.join('?' * len(_PREDICTION_COLUMNS))})"
)


_SQLITE_INSERT_FEEDBACK = (
    "INSERT INTO feedback (prediction_id, user_feedback, feedback_at, comment, corrected_label, gdpr_consent, fingerprint)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _prediction_tuple(p: StoredPrediction) -> tuple[Any, ...]:
    return (p.prediction_id, p.version_id, (p.timestamp - EPOCH) // MICRO, p.predicted_label, p.confidence,
            p.inference_ms, 1 if p.status == "error" else 0, p.image_type, p.image_sha256, p.user_ref, p.fingerprint)


def _prediction_row(p: StoredPrediction) -> dict[str, Any]:
    return {
        "prediction_id": p.prediction_id, "version_id": p.version_id, "ts": to_us(p.timestamp),
        "predicted_label": p.predicted_label, "confidence": p.confidence, "inference_ms": p.inference_ms,
        "is_error": 1 if p.status == "error" else 0, "image_type": p.image_type, "image_sha256": p.image_sha256,
        "user_ref": p.user_ref, "fingerprint": p.fingerprint,
    }


def _feedback_row(f: StoredFeedback) -> dict[str, Any]:
    return {
        "prediction_id": f.prediction_id, "user_feedback": f.user_feedback, "feedback_at": to_us(f.feedback_at),
        "comment": f.comment, "corrected_label": f.corrected_label, "gdpr_consent": 1 if f.gdpr_consent else 0,
        "fingerprint": f.fingerprint,
    }


def _candidate(row: Any) -> Candidate:
    return Candidate(
        item=row["prediction_id"], prediction_id=row["prediction_id"], predicted_label=row["predicted_label"],
        predicted_at=from_us(row["ts"]), feedback_at=from_us(row["fb_at"]), consent=bool(row["fb_consent"]),
        feedback=row["fb_value"], corrected_label=row["fb_corrected_label"], comment=row["fb_comment"],
        confidence=row["confidence"], image_sha256=row["image_sha256"], image_type=row["image_type"],
    )


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


