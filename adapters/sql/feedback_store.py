"""FeedbackStore on SQLAlchemy, every role in one class (one database): SQLite by default, PostgreSQL by URL; schema
versioned with Alembic."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, bindparam, case, create_engine, event, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from adapters.sql.schema import feedback, hourly_counts, predictions, review_items
from application.records import (
    DailySatisfaction,
    KnownPrediction,
    RatedOutcome,
    ReviewContext,
    ReviewItem,
    StoredFeedback,
    StoredPrediction,
)
from domain.rules.curation import Candidate, item_reference
from domain.rules.negative_comments import comment_words, count_watched
from domain.rules.phase_health import PhaseStats

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
CHUNK = 900  # bound parameters per IN (...) list
COPY_FROM = 50  # rows from which PostgreSQL gets them by COPY
_RATED_COLUMNS = (
    predictions.c.seq, predictions.c.ts, predictions.c.image_type, predictions.c.prediction_id,
    predictions.c.predicted_label, predictions.c.confidence, predictions.c.image_sha256,
    predictions.c.fb_value, predictions.c.fb_at, predictions.c.fb_comment, predictions.c.fb_corrected_label,
    predictions.c.fb_consent, predictions.c.fb_words,
)


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
        self.engine = create_engine(
            url, connect_args={"timeout": 30} if url.startswith("sqlite") else {"connect_timeout": 5})
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    def migrate(self) -> None:
        """Apply the Alembic migrations up to head (idempotent; runs at every start)."""
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as connection:
            exclusive_lock(connection, "migrate")  # commands started at once on a fresh store migrate one at a time
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------------------
    @contextmanager
    def writer(self, *, exclusive: bool = False) -> Iterator[_SqlWriter]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        with self.engine.begin() as connection:
            if exclusive:
                exclusive_lock(connection, "ingest")
                if connection.dialect.name == "postgresql":
                    # The batch looks records up by unique key while it fills the table; statistics taken before
                    # it (or never, on a new table) make the planner scan the table for each chunk: 0.2 s a chunk
                    # at 100,000 rows. By key, the index is always the right plan.
                    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
                # Rows this transaction inserts get a higher seq (SQLite's rowid, PostgreSQL's sequence).
                last_seq = connection.execute(select(func.coalesce(func.max(predictions.c.seq), 0))).scalar_one()
                yield _SqlWriter(connection, last_seq)
                return
            yield _SqlWriter(connection)

    def add(self, new_predictions: Sequence[StoredPrediction], new_feedback: Sequence[StoredFeedback]) -> None:
        with self.writer() as writer:
            writer.add(new_predictions, new_feedback)

    # -- the windows of rule 4.1 --------------------------------------------------------------------------
    # Every window reads the latest-feedback columns through an index. Feedback given after `now` (an evaluation
    # in the past) is the exception: those few predictions are re-read from the feedback table and merged in.
    def _late(self, connection: Connection, version_id: str, now: int) -> list[dict[str, Any]]:
        """Predictions served by `now` whose latest feedback came later, with their latest feedback as of `now`."""
        p, f = predictions, feedback
        query = (
            select(*_RATED_COLUMNS[:-6], f.c.user_feedback.label("fb_value"), f.c.feedback_at.label("fb_at"),
                   f.c.comment.label("fb_comment"), f.c.corrected_label.label("fb_corrected_label"),
                   f.c.gdpr_consent.label("fb_consent"), literal_column("NULL").label("fb_words"))
            .join(f, f.c.prediction_id == p.c.prediction_id)
            .where(p.c.version_id == version_id, p.c.ts <= now, p.c.fb_at > now, f.c.feedback_at <= now)
            .order_by(p.c.seq, f.c.feedback_at, f.c.seq)
        )
        latest: dict[int, dict[str, Any]] = {}
        for row in connection.execute(query).mappings():
            latest[row["seq"]] = dict(row)
        rows = [row for row in latest.values() if row["fb_value"] is not None]
        for row in rows:
            row["fb_words"] = comment_words(row["fb_comment"]) if row["fb_comment"] else None
        return rows

    def _rated_latest(
        self, connection: Connection, version_id: str, now: int, limit: int, image_type: str | None = None
    ) -> list[tuple[int, int, int]]:
        """(ts, seq, value) of the last `limit` rated predictions as of `now`, newest first."""
        p = predictions
        query = select(p.c.ts, p.c.seq, p.c.fb_value).where(
            p.c.version_id == version_id, p.c.fb_value.isnot(None), p.c.ts <= now, p.c.fb_at <= now)
        if image_type is not None:
            query = query.where(p.c.image_type == image_type)
        rows = list(connection.execute(query.order_by(p.c.ts.desc(), p.c.seq.desc()).limit(limit)).tuples())
        late = [(r["ts"], r["seq"], r["fb_value"]) for r in self._late(connection, version_id, now)
                if image_type is None or r["image_type"] == image_type]
        if late:
            rows = sorted(rows + late, key=lambda r: (r[0], r[1]), reverse=True)[:limit]
        return rows

    def rated_outcomes(
        self, version_id: str, *, as_of: datetime, limit: int, image_type: str | None = None
    ) -> list[RatedOutcome]:
        with self.engine.connect() as connection:
            rows = self._rated_latest(connection, version_id, to_us(as_of), limit, image_type)
        return [RatedOutcome(from_us(ts), bool(value)) for ts, _, value in reversed(rows)]

    def _image_types(self, connection: Connection, version_id: str, now: int) -> list[str]:
        """The distinct segments with rated predictions: a loose index scan, one index probe per segment."""
        probe = text(
            "WITH RECURSIVE segment(name) AS ("
            " SELECT MIN(image_type) FROM predictions WHERE version_id = :v AND fb_value IS NOT NULL"
            " UNION ALL SELECT (SELECT MIN(image_type) FROM predictions"
            "   WHERE version_id = :v AND fb_value IS NOT NULL AND image_type > segment.name)"
            " FROM segment WHERE segment.name IS NOT NULL"
            ") SELECT name FROM segment WHERE name IS NOT NULL"
        )
        return list(connection.execute(probe, {"v": version_id}).scalars())

    def rated_outcomes_by_image_type(
        self, version_id: str, *, as_of: datetime, limit: int
    ) -> dict[str, list[RatedOutcome]]:
        now = to_us(as_of)
        by_type: dict[str, list[RatedOutcome]] = {}
        with self.engine.connect() as connection:
            for image_type in self._image_types(connection, version_id, now):
                rows = self._rated_latest(connection, version_id, now, limit, image_type)
                if rows:
                    by_type[image_type] = [RatedOutcome(from_us(ts), bool(value)) for ts, _, value in reversed(rows)]
        return by_type

    def ok_latencies(self, version_id: str, *, as_of: datetime, limit: int, first: bool = False) -> list[float]:
        p = predictions
        order = (p.c.ts.asc(), p.c.seq.asc()) if first else (p.c.ts.desc(), p.c.seq.desc())
        query = (
            select(p.c.inference_ms)
            .where(p.c.version_id == version_id, p.c.is_error == 0, p.c.ts <= to_us(as_of),
                   p.c.inference_ms.isnot(None))
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

    def negative_comment_counts(
        self, version_id: str, *, since: datetime, until: datetime, terms: Sequence[str]
    ) -> tuple[int, dict[str, int], int]:
        """Counted in SQL on the comments' folded words: a term matches where its words stand between spaces."""
        low, high = to_us(since), to_us(until)
        p = predictions
        patterns = {term: "%" + _like_escape(comment_words(term)) + "%"
                    for term in terms if comment_words(term).strip()}
        matches = {term: p.c.fb_words.like(pattern, escape="\\") for term, pattern in patterns.items()}
        any_term = or_(*matches.values()) if matches else literal_column("0") == 1
        columns = [func.count(), func.coalesce(func.sum(case((any_term, 1), else_=0)), 0)]
        columns += [func.coalesce(func.sum(case((match, 1), else_=0)), 0) for match in matches.values()]
        query = select(*columns).where(
            p.c.version_id == version_id, p.c.fb_value == 0, p.c.fb_words.isnot(None), p.c.fb_at > low,
            p.c.fb_at <= high)
        with self.engine.connect() as connection:
            total, matching, *per = connection.execute(query).one()
            late = [r["fb_comment"] for r in self._late(connection, version_id, high)
                    if r["fb_value"] == 0 and r["fb_comment"] and low < r["fb_at"] <= high]
        per_term = {term: int(n) for term, n in zip(matches, per, strict=True)}
        if late:
            late_matching, late_per_term = count_watched(late, list(terms))
            matching += late_matching
            for term, n in late_per_term.items():
                per_term[term] = per_term.get(term, 0) + n
        return int(matching), per_term, int(total) + len(late)

    def negative_comments(self, version_id: str, *, since: datetime, until: datetime) -> list[str]:
        """The texts of the window's negative comments (for inspection; the rule counts with the method above)."""
        low, high = to_us(since), to_us(until)
        p = predictions
        with self.engine.connect() as connection:
            texts = list(connection.execute(select(p.c.fb_comment).where(
                p.c.version_id == version_id, p.c.fb_value == 0, p.c.fb_words.isnot(None), p.c.fb_at > low,
                p.c.fb_at <= high).order_by(p.c.seq)).scalars())
            texts += [r["fb_comment"] for r in self._late(connection, version_id, high)
                      if r["fb_value"] == 0 and r["fb_comment"] and low < r["fb_at"] <= high]
        return texts

    def phase_stats(self, version_id: str, *, since: datetime, until: datetime) -> PhaseStats:
        """The predictions with since <= ts <= until, in all and per image type, rated by their latest feedback as of
        `until`. One GROUP BY image_type per aggregate (the rows the phase's range scans read anyway); the sums and
        sums of squares of the ok predictions' latency come from SQL, the variance is derived here."""
        low, high = to_us(since), to_us(until)
        p = predictions
        ok_ms = case((p.c.is_error == 0, p.c.inference_ms))
        in_phase = (p.c.version_id == version_id, p.c.ts >= low, p.c.ts <= high)
        tallies: dict[str, _PhaseTally] = {}
        with self.engine.connect() as connection:
            for image_type, total, errors, ok, ms, squares in connection.execute(
                select(p.c.image_type, func.count(), func.sum(p.c.is_error), func.count(ok_ms), func.sum(ok_ms),
                       func.sum(ok_ms * ok_ms)).where(*in_phase).group_by(p.c.image_type)
            ).tuples():
                tallies[image_type] = _PhaseTally(int(total), int(errors), ok=int(ok), ms=float(ms or 0.0),
                                                  squares=float(squares or 0.0))
            for image_type, rated, satisfied in connection.execute(
                select(p.c.image_type, func.count(), func.sum(p.c.fb_value))
                .where(*in_phase, p.c.fb_value.isnot(None), p.c.fb_at <= high).group_by(p.c.image_type)
            ).tuples():
                tallies[image_type].rated, tallies[image_type].satisfied = int(rated), int(satisfied)
            for row in self._late(connection, version_id, high):
                if row["ts"] >= low:
                    tallies[row["image_type"]].rated += 1
                    tallies[row["image_type"]].satisfied += row["fb_value"]
        whole = _PhaseTally.total(tallies.values()).stats()
        return replace(whole, segments={name: tallies[name].stats() for name in sorted(tallies)})

    # -- curation and review ------------------------------------------------------------------------------
    def curation_candidates(
        self, version_ids: Sequence[str], *, since: datetime | None, as_of: datetime
    ) -> list[Candidate]:
        now = to_us(as_of)
        p = predictions
        rows: list[dict[str, Any]] = []
        with self.engine.connect() as connection:
            for version_id in version_ids:
                query = select(*_RATED_COLUMNS).where(
                    p.c.version_id == version_id, p.c.ts <= now, p.c.fb_at.isnot(None), p.c.fb_at <= now)
                if since is not None:
                    query = query.where(p.c.fb_at > to_us(since))
                rows += [dict(row) for row in connection.execute(query).mappings()]
                rows += [r for r in self._late(connection, version_id, now)
                         if since is None or r["fb_at"] > to_us(since)]
        return [_candidate(row) for row in sorted(rows, key=lambda row: row["seq"])]

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

    # -- the web console --------------------------------------------------------------------------------
    def review_context(self, prediction_ids: Sequence[str]) -> dict[str, ReviewContext]:
        p = predictions
        ids = list(prediction_ids)
        found: dict[str, ReviewContext] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(ids), CHUNK):
                query = select(p.c.prediction_id, p.c.predicted_label, p.c.confidence, p.c.image_type, p.c.ts,
                               p.c.fb_comment, p.c.fb_corrected_label, p.c.fb_at, p.c.fb_consent).where(
                    p.c.prediction_id.in_(ids[start:start + CHUNK]))
                for row in connection.execute(query):
                    found[row[0]] = ReviewContext(row[0], row[1], row[2], row[3], from_us(row[4]), row[5], row[6],
                                                  from_us(row[7]) if row[7] is not None else None, bool(row[8]))
        return found

    def daily_satisfaction(self, *, until: datetime | None = None) -> list[DailySatisfaction]:
        p = predictions
        day = (p.c.ts // DAY_US).label("day")
        query = select(p.c.version_id, p.c.image_type, day, func.count(), func.sum(p.c.fb_value)).where(
            p.c.fb_value.isnot(None))
        if until is not None:
            query = query.where(p.c.ts <= to_us(until), p.c.fb_at <= to_us(until))
        counts: Counter[tuple[str, str, int]] = Counter()
        satisfied: Counter[tuple[str, str, int]] = Counter()
        with self.engine.connect() as connection:
            for version_id, image_type, number, rated, happy in connection.execute(
                    query.group_by(p.c.version_id, p.c.image_type, day)):
                counts[(version_id, image_type, int(number))] += rated
                satisfied[(version_id, image_type, int(number))] += int(happy or 0)
            if until is not None:  # answered later: counted by the answer they had by then
                for row in self._answered_later(connection, to_us(until)):
                    key = (row["version_id"], row["image_type"], row["ts"] // DAY_US)
                    counts[key] += 1
                    satisfied[key] += row["fb_value"]
        return [DailySatisfaction(v, t, (EPOCH + timedelta(days=n)).date(), counts[(v, t, n)], satisfied[(v, t, n)])
                for v, t, n in sorted(counts, key=lambda key: (key[2], key[0], key[1]))]

    def _answered_later(self, connection: Connection, now: int) -> list[dict[str, Any]]:
        p, f = predictions, feedback
        query = (
            select(p.c.seq, p.c.version_id, p.c.image_type, p.c.ts, f.c.user_feedback.label("fb_value"))
            .join(f, f.c.prediction_id == p.c.prediction_id)
            .where(p.c.ts <= now, p.c.fb_at > now, f.c.feedback_at <= now)
            .order_by(p.c.seq, f.c.feedback_at, f.c.seq)
        )
        latest = {row["seq"]: dict(row) for row in connection.execute(query).mappings()}
        return [row for row in latest.values() if row["fb_value"] is not None]

    # -- erasure (SPEC 7) ---------------------------------------------------------------------------------
    def user_predictions(self, user_ref: str) -> list[tuple[str, str | None]]:
        p = predictions
        with self.engine.connect() as connection:
            query = select(p.c.prediction_id, p.c.image_sha256).where(p.c.user_ref == user_ref).order_by(p.c.seq)
            return [(pid, sha) for pid, sha in connection.execute(query)]

    def erase(self, prediction_ids: Sequence[str]) -> dict[str, int]:
        """SQLite overwrites what it deletes (secure_delete) and the WAL is truncated after the commit, so the
        files hold no copy; PostgreSQL frees the rows' space at its next VACUUM."""
        ids = list(prediction_ids)
        counts = {"predictions": 0, "feedback": 0, "review_items": 0}
        with self.engine.begin() as connection:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                counts["review_items"] += connection.execute(
                    review_items.delete().where(review_items.c.prediction_id.in_(chunk))).rowcount
                counts["feedback"] += connection.execute(
                    feedback.delete().where(feedback.c.prediction_id.in_(chunk))).rowcount
                counts["predictions"] += connection.execute(
                    predictions.delete().where(predictions.c.prediction_id.in_(chunk))).rowcount
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return counts

    def images_in_use(self, image_sha256s: Sequence[str]) -> set[str]:
        shas = [sha for sha in image_sha256s if sha]
        found: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(shas), CHUNK):
                chunk = shas[start:start + CHUNK]
                for table in (predictions, review_items):
                    found |= set(connection.execute(
                        select(table.c.image_sha256).where(table.c.image_sha256.in_(chunk))).scalars())
        return found


class SqlRowEncoder:
    """Rows in _PREDICTION_COLUMNS and _FEEDBACK_COLUMNS order, built where ingestion parses (its workers)."""

    def prediction(self, prediction: StoredPrediction, answer: StoredFeedback | None) -> tuple[Any, Any]:
        own = _feedback_row(answer) if answer is not None else None
        return _prediction_row(prediction, own), (own, None) if own is not None else None

    def feedback(self, answer: StoredFeedback) -> Any:
        row = _feedback_row(answer)
        return row, _latest_params(row)


class _SqlWriter:
    """Writes of one transaction; the store commits or rolls it back as a whole."""

    encoder = SqlRowEncoder()

    def __init__(self, connection: Connection, last_seq: int | None = None) -> None:
        self.connection = connection
        self.last_seq = last_seq  # the last prediction stored before an exclusive transaction began

    def _by_ids(self, sql: str, prediction_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows for a long list of prediction ids (a plain driver query: this is the bulk path). SQLite gets CHUNK ids
        per IN (...) list; PostgreSQL gets them all as one array, which psycopg does not parse placeholder by
        placeholder (900 placeholders took it 8 ms a query)."""
        ids = list(prediction_ids)
        if self.connection.dialect.name == "postgresql":
            if ids:
                yield from self.connection.exec_driver_sql(sql.format("= ANY(%s)"), (ids,))
            return
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            yield from self.connection.exec_driver_sql(sql.format(f"IN ({', '.join('?' * len(chunk))})"), tuple(chunk))

    def known(self, prediction_ids: Sequence[str]) -> dict[str, KnownPrediction]:
        sql = "SELECT prediction_id, fingerprint, version_id FROM predictions WHERE prediction_id {}"
        return {pid: KnownPrediction(fp, version_id) for pid, fp, version_id in self._by_ids(sql, prediction_ids)}

    def feedback_fingerprints(self, prediction_ids: Sequence[str]) -> set[tuple[str, str]]:
        sql = "SELECT prediction_id, fingerprint FROM feedback WHERE prediction_id {}"
        return {(pid, fp) for pid, fp in self._by_ids(sql, prediction_ids)}

    def add(self, new_predictions: Sequence[StoredPrediction], new_feedback: Sequence[StoredFeedback]) -> None:
        """Every feedback row is kept; a new prediction's own latest answer goes into its insert, later answers to
        earlier predictions update their latest-feedback columns. Rows are plain tuples: this is the bulk path."""
        sqlite = self.connection.dialect.name == "sqlite"
        answers = [_feedback_row(f) for f in new_feedback]
        new_ids = {p.prediction_id for p in new_predictions}
        inline: dict[str, tuple[Any, ...]] = {}
        for answer in answers:  # in order: on equal times the later answer wins
            pid = answer[0]
            if pid in new_ids and (pid not in inline or answer[2] >= inline[pid][2]):
                inline[pid] = answer
        if new_predictions:
            rows = [_prediction_row(p, inline.get(p.prediction_id)) for p in new_predictions]
            if sqlite:
                self.connection.exec_driver_sql(_SQLITE_INSERT_PREDICTIONS, rows)
            else:
                self._copy("predictions", _PREDICTION_COLUMNS, rows)
            self._count_hours(rows)
        if answers:
            if sqlite:
                self.connection.exec_driver_sql(_SQLITE_INSERT_FEEDBACK, answers)
            else:
                self._copy("feedback", _FEEDBACK_COLUMNS, answers)
            later = [_latest_params(r) for r in answers if r[0] not in new_ids]
            if later and sqlite:
                self.connection.exec_driver_sql(_SQLITE_UPDATE_LATEST, later)
            elif later:
                self.connection.execute(_latest_update(), [dict(zip(_LATEST_PARAMS, values, strict=True))
                                                           for values in later])

    def add_encoded(self, predictions: Sequence[Any], answers: Sequence[Any]) -> None:
        """Rows from SqlRowEncoder: each prediction's row holds its own answer as its latest; every answer gets its
        feedback row, and a later one (it carries the update's parameters) becomes the latest if it is (on equal
        times the later answer wins)."""
        sqlite = self.connection.dialect.name == "sqlite"
        if predictions:
            if sqlite:
                self.connection.exec_driver_sql(_SQLITE_INSERT_PREDICTIONS, predictions)
            else:
                self._copy("predictions", _PREDICTION_COLUMNS, predictions)
            self._count_hours(predictions)
        if not answers:
            return
        rows = [row for row, _ in answers]
        later = [latest for _, latest in answers if latest is not None]
        if sqlite:
            self.connection.exec_driver_sql(_SQLITE_INSERT_FEEDBACK, rows)
            if later:
                self.connection.exec_driver_sql(_SQLITE_UPDATE_LATEST, later)
            return
        self._copy("feedback", _FEEDBACK_COLUMNS, rows)
        if later:
            self.connection.execute(_latest_update(), [dict(zip(_LATEST_PARAMS, values, strict=True))
                                                       for values in later])

    def add_if_new(self, predictions: Sequence[Any], answers: Sequence[Any]) -> bool:
        """The rows in a savepoint: a prediction id already stored breaks the unique key, and the savepoint is rolled
        back (the COPY's psycopg error is the driver's own, not wrapped by SQLAlchemy)."""
        try:
            with self.connection.begin_nested():
                self.add_encoded(predictions, answers)
        except (IntegrityError, self.connection.dialect.dbapi.IntegrityError):  # type: ignore[union-attr]
            return False
        return True

    def stored_before(self, prediction_ids: Sequence[str]) -> set[str]:
        if self.last_seq is None:
            raise RuntimeError("only an exclusive writer knows what was stored before it")
        sql = f"SELECT prediction_id FROM predictions WHERE seq <= {int(self.last_seq)} AND prediction_id {{}}"
        return {pid for (pid,) in self._by_ids(sql, prediction_ids)}

    def replace_encoded(self, new_rows: Sequence[Any], answers: Sequence[Any]) -> list[str]:
        """An UPDATE keeps each row's seq (its ingestion order); the hourly counts move from the old row's hour to
        the new one's. Deleted answers are overwritten on SQLite (secure_delete)."""
        ids = [row[0] for row in new_rows]
        old = list(self._by_ids(f"SELECT {', '.join(_PREDICTION_COLUMNS)} FROM predictions WHERE prediction_id {{}}",
                                ids))
        for start in range(0, len(ids), CHUNK):
            self.connection.execute(feedback.delete().where(feedback.c.prediction_id.in_(ids[start:start + CHUNK])))
        self.connection.execute(_replace_prediction(), [
            {f"b_{column}": value for column, value in zip(_PREDICTION_COLUMNS, row, strict=True)} for row in new_rows])
        self._count_hours(old, sign=-1)
        self._count_hours(new_rows)
        if answers:
            self.connection.execute(feedback.insert(), [dict(zip(_FEEDBACK_COLUMNS, row, strict=True))
                                                        for row, _ in answers])
        return [row[8] for row in old if row[8]]

    def _copy(self, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
        """PostgreSQL's bulk path: COPY ... FROM STDIN through psycopg, in this transaction (benchmarks/ingest_bench.py
        measures it against a raw COPY of the same rows, and against executemany)."""
        if len(rows) < COPY_FROM:  # a few rows (a served batch): a plain insert costs less than setting up a COPY
            self.connection.execute(predictions.insert() if table == "predictions" else feedback.insert(),
                                    [dict(zip(columns, row, strict=True)) for row in rows])
            return
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _count_hours(self, rows: Sequence[tuple[Any, ...]], sign: int = 1) -> None:
        """Add the rows to their hours' counts (`sign` -1: take them out)."""
        # version_id, ts and is_error are columns 1, 2 and 6
        totals = Counter((row[1], row[2] // HOUR_US) for row in rows)
        errors = Counter((row[1], row[2] // HOUR_US) for row in rows if row[6])
        insert = (postgresql_insert if self.connection.dialect.name == "postgresql" else sqlite_insert)(hourly_counts)
        upsert = insert.on_conflict_do_update(
            index_elements=[hourly_counts.c.version_id, hourly_counts.c.hour],
            set_={"predictions": hourly_counts.c.predictions + insert.excluded.predictions,
                  "errors": hourly_counts.c.errors + insert.excluded.errors},
        )
        self.connection.execute(upsert, [
            {"version_id": v, "hour": h, "predictions": sign * n, "errors": sign * errors[(v, h)]}
            for (v, h), n in totals.items()
        ])


_PREDICTION_COLUMNS = ("prediction_id", "version_id", "ts", "predicted_label", "confidence", "inference_ms", "is_error",
                       "image_type", "image_sha256", "user_ref", "fingerprint", "fb_value", "fb_at", "fb_comment",
                       "fb_corrected_label", "fb_consent", "fb_words")
_FEEDBACK_COLUMNS = ("prediction_id", "user_feedback", "feedback_at", "comment", "corrected_label", "gdpr_consent",
                     "fingerprint")
_SQLITE_INSERT_PREDICTIONS = (
    f"INSERT INTO predictions ({', '.join(_PREDICTION_COLUMNS)}) VALUES ({', '.join('?' * len(_PREDICTION_COLUMNS))})"
)
_LATEST_PARAMS = ("b_value", "b_at", "b_comment", "b_label", "b_consent", "b_words", "b_prediction_id", "b_at_again")
_SQLITE_UPDATE_LATEST = (
    "UPDATE predictions SET fb_value = ?, fb_at = ?, fb_comment = ?, fb_corrected_label = ?, fb_consent = ?,"
    " fb_words = ? WHERE prediction_id = ? AND (fb_at IS NULL OR fb_at <= ?)"
)


def _latest_update() -> Any:
    p = predictions
    return (
        p.update()
        .where(p.c.prediction_id == bindparam("b_prediction_id"),
               or_(p.c.fb_at.is_(None), p.c.fb_at <= bindparam("b_at_again")))
        .values(fb_value=bindparam("b_value"), fb_at=bindparam("b_at"), fb_comment=bindparam("b_comment"),
                fb_corrected_label=bindparam("b_label"), fb_consent=bindparam("b_consent"),
                fb_words=bindparam("b_words"))
    )


def _replace_prediction() -> Any:
    p = predictions
    return p.update().where(p.c.prediction_id == bindparam("b_prediction_id")).values(
        {column: bindparam(f"b_{column}") for column in _PREDICTION_COLUMNS[1:]})


def _latest_params(answer: tuple[Any, ...]) -> tuple[Any, ...]:
    pid, value, at, comment, label, consent, _ = answer
    return (value, at, comment, label, consent, comment_words(comment) if comment else None, pid, at)


_SQLITE_INSERT_FEEDBACK = (
    f"INSERT INTO feedback ({', '.join(_FEEDBACK_COLUMNS)}) VALUES ({', '.join('?' * len(_FEEDBACK_COLUMNS))})"
)
_NO_ANSWER = (None,) * 6


def _prediction_row(p: StoredPrediction, answer: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row, in _PREDICTION_COLUMNS order, with its latest answer when the batch carries one."""
    row = (p.prediction_id, p.version_id, (p.timestamp - EPOCH) // MICRO, p.predicted_label, p.confidence,
           p.inference_ms, 1 if p.status == "error" else 0, p.image_type, p.image_sha256, p.user_ref, p.fingerprint)
    if answer is None:
        return row + _NO_ANSWER
    _, value, at, comment, label, consent, _ = answer
    return row + (value, at, comment, label, consent, comment_words(comment) if comment else None)


def _feedback_row(f: StoredFeedback) -> tuple[Any, ...]:
    """The row, in _FEEDBACK_COLUMNS order."""
    return (f.prediction_id, f.user_feedback, to_us(f.feedback_at), f.comment, f.corrected_label,
            1 if f.gdpr_consent else 0, f.fingerprint)


def _candidate(row: Any) -> Candidate:
    """Curation never sees a comment given without consent: not even to find a label in it."""
    consent = bool(row["fb_consent"])
    return Candidate(
        item=item_reference(row["prediction_id"]), prediction_id=row["prediction_id"],
        predicted_label=row["predicted_label"], predicted_at=from_us(row["ts"]), feedback_at=from_us(row["fb_at"]),
        consent=consent, feedback=row["fb_value"], corrected_label=row["fb_corrected_label"],
        comment=row["fb_comment"] if consent else None,
        confidence=row["confidence"], image_sha256=row["image_sha256"], image_type=row["image_type"],
    )


def exclusive_lock(connection: Connection, purpose: str) -> None:
    """Hold the database's lock for `purpose` until this transaction ends, before reading anything: a check and the
    write that depends on it cannot interleave with another process's. SQLite takes its write lock at once (BEGIN
    IMMEDIATE; other writers wait up to the busy timeout); PostgreSQL takes a transaction-scoped advisory lock that
    only transactions with the same purpose wait for."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:purpose))"), {"purpose": f"retrain.{purpose}"})


WAL_LIMIT_BYTES = 64 * 1024 * 1024  # what the log keeps of its size once the next write starts it over


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # an erased user's data is overwritten, not left in free pages
    # SQLite reuses its write-ahead log rather than truncating it: without a limit, a long-lived server's log stays
    # as large as the largest batch it ever wrote (a 1,000,000-record ingest writes 450 MB through it).
    cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    cursor.close()




@dataclass
class _PhaseTally:
    """What a phase's SQL sums say of one image type (or of all): counts, and the ok predictions' latency sums."""

    predictions: int = 0
    errors: int = 0
    rated: int = 0
    satisfied: int = 0
    ok: int = 0
    ms: float = 0.0
    squares: float = 0.0

    @classmethod
    def total(cls, parts: Iterable[_PhaseTally]) -> _PhaseTally:
        each = list(parts)
        return cls(sum(t.predictions for t in each), sum(t.errors for t in each), sum(t.rated for t in each),
                   sum(t.satisfied for t in each), sum(t.ok for t in each), math.fsum(t.ms for t in each),
                   math.fsum(t.squares for t in each))

    def stats(self) -> PhaseStats:
        return PhaseStats(predictions=self.predictions, errors=self.errors, rated=self.rated, satisfied=self.satisfied,
                          mean_latency_ms=self.ms / self.ok if self.ok else None, ok_predictions=self.ok,
                          latency_variance=sample_variance(self.ok, self.ms, self.squares))


def sample_variance(n: int, total: float, squares: float) -> float | None:
    """The sample variance (n - 1) from a sum and a sum of squares; None below 2 values. The difference of the two
    sums cancels digits: its relative error is at most about n * 2^-53 * (1 + mean^2 / variance) (the sums' own
    rounding), under 10^-6 for a million latencies spread 10% about their mean; equal values can come out a few ulps
    below 0, hence the clamp."""
    if n < 2:
        return None
    return max(0.0, (squares - total * (total / n)) / (n - 1))


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
