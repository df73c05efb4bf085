"""SPEC section 10, row 2: ingestion and trigger evaluation as the store grows.

One version serves the same traffic (14,400 predictions a day, one in five rated, 2% errors, some negative comments)
for a longer history: a store of 100,000 predictions is about a week of it, one of 10,000,000 about two years.
Measured on SQLite, each against its baseline in the same run:
- `retrain ingest` of a batch of new records (the next hours of the same traffic) into the large store, against the
  same batch into an empty store (target: >= 0.8 x its rate);
- evaluating every trigger for the version with the large store, against the store of 100,000 (target: <= 2 x);
- the database's size on disk per million predictions (feedback columns and indexes included).
The stores are filled in SQL (about 65 s for 10 million on 2 cores), written out to disk before any timing (else the
first ingest competes with the kernel's writing of 4 GB), and kept under .bench-scale/ for the next runs; an ingest into
the large store is removed again after it is measured.
Run: .venv/bin/python -m benchmarks.scale_bench [--large N] [--small N] [--batch N] [--fresh]
(the SPEC's figure: --large 10000000)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from adapters.logs import configure_logging
from application.settings import load_settings
from benchmarks.common import START, home_with_v1, records
from benchmarks.ingest_bench import timed_ingest
from bootstrap import Container, build_clock
from domain.rules.negative_comments import comment_words

CACHE = Path(".bench-scale")
STEP_US = 6_000_000  # 14,400 predictions a day
HOUR_US = 3_600_000_000
END = START  # every store's history ends here (on the hour), and the ingested batch starts here
NOW = END + timedelta(minutes=1)
COMMENT = "image floue"

FILL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO predictions (prediction_id, version_id, ts, predicted_label, confidence, inference_ms, is_error,
                         image_type, image_sha256, user_ref, fingerprint, fb_value, fb_at, fb_comment,
                         fb_corrected_label, fb_consent, fb_words)
SELECT printf('h%010d', i), :version, :first + i * :step, CAST(i % 10 AS TEXT), (i * 7919 % 1000) / 1000.0,
       CASE WHEN i % 50 = 0 THEN NULL ELSE 4.0 + (i % 200) / 100.0 END, i % 50 = 0,
       CASE WHEN i % 3 = 0 THEN 'scan' ELSE 'phone' END, NULL, NULL, printf('%064x', i),
       CASE WHEN i % 5 = 0 THEN i % 25 <> 0 END, CASE WHEN i % 5 = 0 THEN :first + i * :step + 300000000 END,
       CASE WHEN i % 50 = 25 THEN :comment END, NULL, CASE WHEN i % 5 = 0 THEN 1 END,
       CASE WHEN i % 50 = 25 THEN :words END
FROM n
"""
FEEDBACK = """
INSERT INTO feedback (prediction_id, user_feedback, feedback_at, comment, corrected_label, gdpr_consent, fingerprint)
SELECT prediction_id, fb_value, fb_at, fb_comment, NULL, 1, fingerprint FROM predictions WHERE fb_value IS NOT NULL
ORDER BY seq
"""
HOURS = """
INSERT INTO hourly_counts (version_id, hour, predictions, errors)
SELECT version_id, ts / 3600000000, count(*), sum(is_error) FROM predictions GROUP BY version_id, ts / 3600000000
"""


def fill(database: Path, version_id: str, count: int) -> None:
    """`count` predictions ending at END, written in SQL with the indexes dropped, then the indexes built again."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=DELETE")  # a bulk load: no WAL to copy every page through
    connection.execute("PRAGMA synchronous=OFF")
    indexes = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                                 " AND tbl_name IN ('predictions', 'feedback')").fetchall()
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    first = _us(END) - count * STEP_US
    connection.execute(FILL, {"count": count, "version": version_id, "first": first, "step": STEP_US,
                              "comment": COMMENT, "words": comment_words(COMMENT)})
    connection.execute(FEEDBACK)
    connection.execute(HOURS)
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("COMMIT")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()


def _us(moment) -> int:  # noqa: ANN001 - a datetime
    return int(moment.timestamp()) * 1_000_000


def store(count: int, fresh: bool) -> Path:
    """A home whose v1 served `count` predictions, built once and kept under CACHE."""
    home = CACHE / f"home-{count}"
    if home.exists() and not fresh and (home / "complete").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    container = home_with_v1(home)
    version_id = str(container.ledger.version("v1").id)
    container.close()
    fill(home / "feedback.db", version_id, count)
    os.sync()  # else the kernel is still writing the new store out while the first ingest is timed
    (home / "complete").write_text(json.dumps({"predictions": count, "megabytes": size_mb(home)}))
    print(f"built a store of {count:,} predictions under {home} in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    return home


def ingest_seconds(home: Path, batch: Path) -> float:
    """`retrain ingest` of the batch into this home; what it wrote (rows and events) is removed again afterwards."""
    events = sorted(home.glob("events.db*"))
    kept = {path: path.read_bytes() for path in events}
    try:
        return timed_ingest(home, batch, {})
    finally:
        forget_batch(home / "feedback.db")
        for path in home.glob("events.db*"):
            path.unlink()
        for path, content in kept.items():
            path.write_bytes(content)


def forget_batch(database: Path) -> None:
    """Remove what an ingest of the batch (ids from 'n', times from END) wrote, so the cached store stays as built."""
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM feedback WHERE prediction_id >= 'n'")
        connection.execute("DELETE FROM predictions WHERE prediction_id >= 'n'")
        connection.execute("DELETE FROM hourly_counts WHERE hour >= ?", (_us(END) // HOUR_US,))
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def evaluation_ms(home: Path, repeat: int) -> float:
    """The median time of evaluating every trigger for v1 in process, after one evaluation to warm the caches."""
    container = Container(load_settings(home=home), build_clock(NOW.isoformat()))
    retrain = container.retrain
    version = retrain.ledger.version("v1")
    retrain.monitoring.verdicts(version, NOW, False)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        retrain.monitoring.verdicts(version, NOW, False)
        times.append((time.perf_counter() - started) * 1000)
    container.close()
    return statistics.median(times)


def size_mb(home: Path) -> float:
    return sum(path.stat().st_size for path in home.glob("feedback.db*")) / 1e6


def built_size_mb(home: Path) -> float:
    """The store's size as built: the measured ingests, removed again, leave free pages behind."""
    return json.loads((home / "complete").read_text()).get("megabytes") or size_mb(home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=2_000_000,
                        help="predictions in the large store (SPEC: 10,000,000)")
    parser.add_argument("--small", type=int, default=100_000, help="predictions in the small store")
    parser.add_argument("--batch", type=int, default=100_000, help="records ingested into each store")
    parser.add_argument("--repeat", type=int, default=20, help="trigger evaluations timed in each store")
    parser.add_argument("--fresh", action="store_true", help="build the stores again")
    options = parser.parse_args()
    configure_logging()  # warnings and errors only, on stderr
    CACHE.mkdir(exist_ok=True)
    small, large = store(options.small, options.fresh), store(options.large, options.fresh)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        root = Path(scratch)
        batch = root / "batch.jsonl"
        with batch.open("w") as handle:
            for record in records(options.batch, start=END, seconds=options.batch * STEP_US // 1_000_000, prefix="n"):
                handle.write(json.dumps(record) + "\n")
        home_with_v1(root / "empty").close()
        empty_s = timed_ingest(root / "empty", batch, {})
        forget_batch(large / "feedback.db")  # a run stopped before it cleaned up
        large_s = ingest_seconds(large, batch)
    small_ms, large_ms = evaluation_ms(small, options.repeat), evaluation_ms(large, options.repeat)
    rows = [
        (f"ingest {options.batch:,} records (rec/s)", "empty store", options.batch / empty_s,
         f"{options.large:,} stored", options.batch / large_s, empty_s / large_s, ">= 0.80", empty_s / large_s >= 0.8),
        (f"every trigger for v1 (ms, median of {options.repeat})", f"{options.small:,} stored", small_ms,
         f"{options.large:,} stored", large_ms, large_ms / small_ms, "<= 2.00", large_ms / small_ms <= 2),
    ]
    print(f"SQLite; one version, 14,400 predictions a day; stores under {CACHE}/")
    print(f"{'figure':<40} {'baseline':<16} {'value':>10}  {'measured at':<16} {'value':>10} {'ratio':>6}  target")
    for name, base_label, base, label, value, ratio, target, met in rows:
        print(f"{name:<40} {base_label:<16} {base:>10,.1f}  {label:<16} {value:>10,.1f} {ratio:>6.2f}  "
              f"{target} {'met' if met else 'NOT met'}")
    for count, home in ((options.small, small), (options.large, large)):
        megabytes = built_size_mb(home)
        print(f"database size with {count:,} predictions (as built): {megabytes:,.0f} MB, "
              f"{megabytes / (count / 1e6):,.0f} MB per million predictions")


if __name__ == "__main__":
    main()
