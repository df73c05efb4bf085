"""SPEC section 10, row 1: `retrain ingest` of 1,000,000 records into the feedback store, on SQLite and PostgreSQL.

Target: >= 0.6 x (aim: 0.7 x) a raw sqlite3.executemany of the same rows, already parsed, in the same run; on
PostgreSQL the same ratio against a raw COPY of the same rows through psycopg (a raw executemany is shown beside it
to show which bulk path is fastest). `retrain ingest` runs end to end in a fresh process: reading, validating,
checking each record against the store, writing, then evaluating the triggers.
Run: .venv/bin/python -m benchmarks.ingest_bench [--records N] [--postgres URL]
(--postgres defaults to $RETRAIN_TEST_POSTGRES_URL; a fresh database is created there and dropped afterwards.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.logs import configure_logging
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from benchmarks.common import home_with_v1, write_records


def parsed_rows(records_file: Path, version_id: str) -> tuple[list[tuple], list[tuple]]:
    """The rows the store writes for these records (same columns and values), parsed outside the timed part."""
    from datetime import datetime

    from domain.rules.negative_comments import comment_words

    predictions, feedback = [], []
    for line in records_file.open():
        r = json.loads(line)
        ts = int(datetime.fromisoformat(r["timestamp"]).timestamp() * 1_000_000)
        answer = (r["user_feedback"], ts, r.get("comment"), None, 1,
                  comment_words(r["comment"]) if r.get("comment") else None) if "user_feedback" in r else (None,) * 6
        predictions.append((r["prediction_id"], version_id, ts, r["predicted_label"], r.get("confidence"),
                            r.get("inference_ms"), int(r.get("status") == "error"), r["image_type"], None, None,
                            "f" * 64, *answer))
        if "user_feedback" in r:
            feedback.append((r["prediction_id"], r["user_feedback"], ts, r.get("comment"), None, 1, "f" * 64))
    return predictions, feedback


PREDICTION_COLUMNS = ("prediction_id, version_id, ts, predicted_label, confidence, inference_ms, is_error, image_type,"
                      " image_sha256, user_ref, fingerprint, fb_value, fb_at, fb_comment, fb_corrected_label,"
                      " fb_consent, fb_words")
FEEDBACK_COLUMNS = "prediction_id, user_feedback, feedback_at, comment, corrected_label, gdpr_consent, fingerprint"


def raw_executemany(path: Path, rows: tuple[list[tuple], list[tuple]]) -> tuple[float, float]:
    """SQLite baseline: the same rows, already parsed into tuples, one executemany per table; wall and CPU seconds."""
    SqlAlchemyFeedbackStore(f"sqlite:///{path}").close()  # the same schema and indexes
    predictions, feedback = rows
    connection = sqlite3.connect(path)
    started, cpu = time.perf_counter(), time.process_time()
    connection.executemany(f"INSERT INTO predictions ({PREDICTION_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                           predictions)
    connection.executemany(f"INSERT INTO feedback ({FEEDBACK_COLUMNS}) VALUES ({', '.join('?' * 7)})", feedback)
    connection.commit()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    connection.close()
    return elapsed, cpu


def raw_postgresql(url: str, rows: tuple[list[tuple], list[tuple]], *, copy: bool) -> float:
    """PostgreSQL baselines: the same rows into the same schema, by COPY ... FROM STDIN or by executemany."""
    import psycopg

    SqlAlchemyFeedbackStore(url).close()  # the same schema and indexes
    predictions, feedback = rows
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        for table, columns, values in (("predictions", PREDICTION_COLUMNS, predictions),
                                       ("feedback", FEEDBACK_COLUMNS, feedback)):
            if copy:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as writer:
                    for row in values:
                        writer.write_row(row)
            else:
                marks = ", ".join(["%s"] * (columns.count(",") + 1))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        connection.commit()
        return time.perf_counter() - started


@contextmanager
def fresh_database(base: str) -> Iterator[str]:
    import psycopg

    name = f"retrain_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed_ingest(home: Path, data: Path, settings: dict[str, str]) -> float:
    return ingest_seconds(home, data, settings)[0]


def ingest_seconds(home: Path, data: Path, settings: dict[str, str]) -> tuple[float, float]:
    """`retrain ingest` in a fresh process: wall seconds, and CPU seconds of the process and its parsing workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")} | {"RETRAIN_HOME": str(home)} | settings
    retrain = Path(sys.executable).with_name("retrain")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(retrain), "ingest", str(data), "--now", "2026-04-01T00:00:00Z"], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed: {done.stderr.strip()}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("RETRAIN_TEST_POSTGRES_URL"),
                        help="a PostgreSQL URL where a scratch database may be created "
                             "(default: $RETRAIN_TEST_POSTGRES_URL)")
    arguments = parser.parse_args()
    configure_logging()  # warnings and errors only, on stderr: stdout holds the figures
    count = arguments.records
    table: list[tuple[str, str, float, float]] = []  # engine, baseline, baseline seconds, retrain ingest seconds
    notes: list[str] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        root = Path(scratch)
        data = write_records(root / "records.jsonl", count)
        container = home_with_v1(root / "home")
        rows = parsed_rows(data, str(container.ledger.version("v1").id))
        container.close()
        raw, raw_cpu = raw_executemany(root / "raw.db", rows)
        ours, ours_cpu = ingest_seconds(root / "home", data, {})
        table.append(("SQLite", "raw sqlite3.executemany", raw, ours))
        notes.append(f"SQLite, CPU seconds (what the machine's load does not change): the baseline {raw_cpu:.1f} s, "
                     f"retrain ingest {ours_cpu:.1f} s with its parsing workers ({raw_cpu / ours_cpu:.2f})")
        if arguments.postgres:
            with fresh_database(arguments.postgres) as copy_url, fresh_database(arguments.postgres) as many_url:
                copy = raw_postgresql(copy_url, rows, copy=True)
                many = raw_postgresql(many_url, rows, copy=False)
            with fresh_database(arguments.postgres) as url:
                settings = {"RETRAIN_EVENT_STORE": url, "RETRAIN_FEEDBACK_STORE": url}
                home_with_v1(root / "pg-home", **settings).close()
                ours = timed_ingest(root / "pg-home", data, settings)
            table.append(("PostgreSQL", "raw psycopg COPY", copy, ours))
            notes.append(f"PostgreSQL: a raw psycopg executemany of the same rows took {many:.2f} s "
                         f"({count / many:,.0f} records/s), {many / copy:.1f} x the raw COPY.")
        else:
            notes.append("PostgreSQL: skipped (no --postgres URL and no RETRAIN_TEST_POSTGRES_URL).")
    print(f"{count:,} records, end to end (`retrain ingest` in a fresh process), baseline measured in the same run")
    print(f"{'engine':<11} {'baseline':<24} {'baseline rec/s':>15} {'ingest s':>9} {'ingest rec/s':>13} "
          f"{'ratio':>6}  target")
    for engine, baseline, base_s, ours in table:
        ratio = base_s / ours
        verdict = "met, and the aim of 0.70" if ratio >= 0.7 else "met" if ratio >= 0.6 else "NOT met"
        print(f"{engine:<11} {baseline:<24} {count / base_s:>15,.0f} {ours:>9.2f} {count / ours:>13,.0f} "
              f"{ratio:>6.2f}  >= 0.60 {verdict}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
