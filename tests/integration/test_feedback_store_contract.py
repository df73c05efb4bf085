"""The feedback store contract, run by the in-memory fake and by the SQL store on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from adapters.sql import feedback_store
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from application import ports
from application.records import ReviewItem, StoredFeedback, StoredPrediction
from domain.rules.phase_health import PhaseStats
from tests import fakes
from tests.fakes import InMemoryFeedbackStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
V = "00000000-0000-0000-0000-00000000000a"
W = "00000000-0000-0000-0000-00000000000b"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "memory":
        yield InMemoryFeedbackStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'feedback.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    sql = SqlAlchemyFeedbackStore(url)
    yield sql
    sql.close()


def prediction(pid: str, at: datetime, *, version: str = V, status: str = "ok", ms: float | None = 5.0,
               image_type: str = "scan", user: str | None = None) -> StoredPrediction:
    return StoredPrediction(pid, version, at, "3", ms if status == "ok" else None, status, 0.8, image_type,
                            None, user, fingerprint=f"fp-{pid}")


def answer(pid: str, value: int | None, at: datetime, comment: str | None = None, consent: bool = True,
           label: str | None = None) -> StoredFeedback:
    return StoredFeedback(pid, value, at, comment, label, consent, fingerprint=f"{pid}-{value}-{at.isoformat()}")


def test_rated_outcomes_are_the_last_n_by_prediction_time_then_ingestion_order(store) -> None:
    preds = [prediction(f"p{i}", T0 + timedelta(minutes=i // 2)) for i in range(10)]
    answers = [answer(f"p{i}", i % 2, T0 + timedelta(hours=1)) for i in range(10)]
    store.add(preds, answers)
    rows = store.rated_outcomes(V, as_of=T0 + timedelta(hours=2), limit=4)
    assert [r.satisfied for r in rows] == [False, True, False, True]
    assert rows[-1].timestamp == T0 + timedelta(minutes=4)


def test_a_later_feedback_replaces_the_earlier_one_and_both_are_kept(store) -> None:
    store.add([prediction("p1", T0)], [answer("p1", 0, T0 + timedelta(minutes=1))])
    store.add([], [answer("p1", 1, T0 + timedelta(minutes=5))])
    assert [r.satisfied for r in store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=10)] == [True]
    with store.writer() as writer:
        assert len(writer.feedback_fingerprints(["p1"])) == 2


def test_records_after_now_are_ignored_including_later_feedback(store) -> None:
    store.add([prediction("p1", T0), prediction("p2", T0 + timedelta(hours=3))],
              [answer("p1", 0, T0 + timedelta(minutes=1)), answer("p2", 0, T0 + timedelta(hours=3))])
    store.add([], [answer("p1", 1, T0 + timedelta(hours=2))])
    early = store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=10)
    assert [r.satisfied for r in early] == [False]
    late = store.rated_outcomes(V, as_of=T0 + timedelta(hours=4), limit=10)
    assert [r.satisfied for r in late] == [True, False]


def test_ok_latencies_first_and_last(store) -> None:
    preds = [prediction(f"p{i}", T0 + timedelta(seconds=i), ms=float(i)) for i in range(6)]
    preds.append(prediction("e", T0 + timedelta(seconds=10), status="error"))
    store.add(preds, [])
    now = T0 + timedelta(hours=1)
    assert store.ok_latencies(V, as_of=now, limit=3, first=True) == [0.0, 1.0, 2.0]
    assert store.ok_latencies(V, as_of=now, limit=3) == [3.0, 4.0, 5.0]


def test_error_counts_use_the_half_open_window_across_hours(store) -> None:
    now = T0 + timedelta(days=7)
    preds = [
        prediction("old", T0, status="error"),  # exactly now - 7 days: outside (since < ts)
        prediction("e1", T0 + timedelta(microseconds=1), status="error"),
        prediction("ok1", T0 + timedelta(days=2, minutes=7)),
        prediction("e2", T0 + timedelta(days=3, hours=5), status="error"),
        prediction("edge", now),  # exactly now: inside
        prediction("future", now + timedelta(microseconds=1), status="error"),
        prediction("other", T0 + timedelta(days=1), version=W, status="error"),
    ]
    store.add(preds, [])
    assert store.error_counts(V, since=now - timedelta(days=7), until=now) == (2, 4)
    assert store.error_counts(V, since=now - timedelta(minutes=30), until=now) == (0, 1)


def test_negative_comments_of_the_window_come_from_the_latest_negative_feedback(store) -> None:
    now = T0 + timedelta(days=8)
    store.add(
        [prediction(f"p{i}", T0) for i in range(4)],
        [answer("p0", 0, T0 + timedelta(hours=12), "trop flou"),  # feedback older than 7 days
         answer("p1", 0, T0 + timedelta(days=3), "mauvais"),
         answer("p2", 1, T0 + timedelta(days=3), "pas mauvais"),
         answer("p3", 0, T0 + timedelta(days=3), "flou")],
    )
    store.add([], [answer("p3", 1, T0 + timedelta(days=4), "ok en fait")])
    assert store.negative_comments(V, since=now - timedelta(days=7), until=now) == ["mauvais"]


def test_rated_outcomes_by_image_type(store) -> None:
    preds = [prediction(f"p{i}", T0 + timedelta(seconds=i), image_type="phone" if i % 2 else "scan") for i in range(6)]
    store.add(preds, [answer(f"p{i}", 1 if i < 3 else 0, T0 + timedelta(minutes=1)) for i in range(6)])
    by_type = store.rated_outcomes_by_image_type(V, as_of=T0 + timedelta(hours=1), limit=2)
    assert {t: [r.satisfied for r in rows] for t, rows in by_type.items()} == {
        "phone": [False, False], "scan": [True, False],
    }


def test_phase_stats_count_only_the_phase(store) -> None:
    start = T0 + timedelta(days=1)
    store.add(
        [prediction("before", T0, ms=100.0), prediction("a", start, ms=4.0), prediction("b", start, ms=6.0),
         prediction("c", start, status="error")],
        [answer("before", 0, T0), answer("a", 1, start), answer("b", 0, start)],
    )
    stats = store.phase_stats(V, since=start, until=start + timedelta(hours=1))
    assert (stats.predictions, stats.errors, stats.rated, stats.satisfied) == (3, 1, 2, 1)
    assert stats.mean_latency_ms == pytest.approx(5.0)
    assert stats.ok_predictions == 2


def test_phase_stats_give_each_image_type_its_own_statistics(store) -> None:
    start = T0 + timedelta(days=1)
    store.add(
        [prediction("s1", start, ms=4.0), prediction("s2", start, ms=6.0), prediction("s3", start, status="error"),
         prediction("p1", start, ms=10.0, image_type="phone"),
         prediction("p2", start, status="error", image_type="phone"),
         prediction("x1", start, status="error", image_type="xray"),
         prediction("other", start, version=W, ms=50.0, image_type="tablet")],
        [answer("s1", 1, start), answer("s2", 0, start), answer("s3", 1, start), answer("p1", 1, start),
         answer("p2", None, start)],
    )
    stats = store.phase_stats(V, since=start, until=start + timedelta(hours=1))
    assert stats.segments == {
        "scan": PhaseStats(predictions=3, errors=1, rated=3, satisfied=2, mean_latency_ms=5.0, ok_predictions=2,
                           latency_variance=2.0),
        "phone": PhaseStats(predictions=2, errors=1, rated=1, satisfied=1, mean_latency_ms=10.0, ok_predictions=1),
        "xray": PhaseStats(predictions=1, errors=1),
    }
    assert (stats.predictions, stats.errors, stats.rated, stats.satisfied, stats.ok_predictions) == (6, 3, 4, 3, 3)
    assert stats.mean_latency_ms == pytest.approx(20 / 3)
    assert stats.latency_variance == pytest.approx(statistics.variance([4.0, 6.0, 10.0]))


def test_phase_stats_take_the_latest_feedback_as_of_the_end_in_each_image_type(store) -> None:
    start, until = T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)
    store.add(
        [prediction("s1", start), prediction("s2", start), prediction("p1", start, image_type="phone"),
         prediction("p2", start, image_type="phone")],
        [answer("s1", 0, start + timedelta(minutes=1)), answer("p1", 1, start + timedelta(minutes=1)),
         answer("p2", 0, until)],
    )
    # given after the phase's end: each changes nothing as of `until`
    store.add([], [answer("s1", 1, until + timedelta(microseconds=1)), answer("s2", 1, until + timedelta(hours=1)),
                   answer("p1", 0, until + timedelta(hours=2)), answer("p2", 1, until + timedelta(hours=2))])
    stats = store.phase_stats(V, since=start, until=until)
    assert {name: (s.rated, s.satisfied) for name, s in stats.segments.items()} == {"scan": (1, 0), "phone": (2, 1)}
    assert (stats.rated, stats.satisfied) == (3, 1)
    later = store.phase_stats(V, since=start, until=until + timedelta(hours=2))
    assert {name: (s.rated, s.satisfied) for name, s in later.segments.items()} == {"scan": (2, 2), "phone": (2, 1)}


def test_phase_stats_latency_variance_is_the_sample_variance_of_the_ok_predictions(store) -> None:
    rng = random.Random(25)
    start = T0 + timedelta(days=1)
    values = {f"p{i}": (round(rng.uniform(20.0, 400.0), 3), "phone" if i % 3 else "scan") for i in range(60)}
    errors = [StoredPrediction(f"e{i}", V, start, "3", 9000.0, "error", 0.8, "scan", None, None, fingerprint=f"fp-e{i}")
              for i in range(3)]  # an error's latency, when recorded, is no ok prediction's
    store.add([prediction(pid, start + timedelta(seconds=i), ms=ms, image_type=kind)
               for i, (pid, (ms, kind)) in enumerate(values.items())] + errors, [])
    stats = store.phase_stats(V, since=start, until=start + timedelta(hours=1))
    everything = [ms for ms, _ in values.values()]
    assert stats.ok_predictions == 60 and stats.errors == 3
    assert stats.mean_latency_ms == pytest.approx(statistics.fmean(everything), rel=1e-12)
    assert stats.latency_variance == pytest.approx(statistics.variance(everything), rel=1e-9)
    for kind in ("phone", "scan"):
        mine = [ms for ms, k in values.values() if k == kind]
        assert stats.segments[kind].latency_variance == pytest.approx(statistics.variance(mine), rel=1e-9)


def test_phase_stats_latency_variance_of_equal_latencies_is_zero_never_below(store) -> None:
    start = T0 + timedelta(days=1)
    store.add([prediction(f"p{i}", start, ms=1000.1) for i in range(11)], [])  # unclamped: -5.6e-10
    stats = store.phase_stats(V, since=start, until=start + timedelta(hours=1))
    assert stats.latency_variance is not None and 0.0 <= stats.latency_variance < 1e-6


def test_phase_stats_have_no_latency_variance_below_two_ok_predictions(store) -> None:
    start = T0 + timedelta(days=1)
    store.add([prediction("ok", start, ms=12.0), prediction("e", start, status="error")], [])
    stats = store.phase_stats(V, since=start, until=start + timedelta(hours=1))
    assert (stats.ok_predictions, stats.mean_latency_ms, stats.latency_variance) == (1, 12.0, None)
    assert stats.segments["scan"].latency_variance is None
    empty = store.phase_stats(V, since=start + timedelta(hours=2), until=start + timedelta(hours=3))
    assert empty == PhaseStats()


def test_phase_stats_window_holds_both_ends_in_every_image_type(store) -> None:
    start, until = T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)
    store.add(
        [prediction("before", start - timedelta(microseconds=1), ms=1.0, image_type="phone"),
         prediction("first", start, ms=2.0, image_type="phone"), prediction("last", until, ms=4.0, image_type="phone"),
         prediction("after", until + timedelta(microseconds=1), ms=8.0, image_type="phone"),
         prediction("later", until + timedelta(microseconds=1), ms=8.0, image_type="xray")],
        [answer(pid, 1, until) for pid in ("before", "first", "last")] +
        [answer("after", 1, until + timedelta(seconds=1))],
    )
    stats = store.phase_stats(V, since=start, until=until)
    assert stats.segments == {"phone": PhaseStats(predictions=2, rated=2, satisfied=2, mean_latency_ms=3.0,
                                                  ok_predictions=2, latency_variance=2.0)}
    assert (stats.predictions, stats.rated, stats.ok_predictions, stats.latency_variance) == (2, 2, 2, 2.0)


def test_curation_candidates_carry_the_latest_feedback_and_consent(store) -> None:
    store.add([prediction("p1", T0), prediction("p2", T0)],
              [answer("p1", 0, T0 + timedelta(minutes=1), "c'est un 7", consent=True),
               answer("p2", 0, T0 + timedelta(minutes=1), label="4")])
    store.add([], [answer("p1", 0, T0 + timedelta(minutes=2), "c'est un 7", consent=False)])
    candidates = store.curation_candidates([V], since=None, as_of=T0 + timedelta(hours=1))
    assert [(c.prediction_id, c.consent, c.corrected_label) for c in candidates] == [
        ("p1", False, None), ("p2", True, "4"),
    ]
    assert store.curation_candidates([V], since=T0 + timedelta(minutes=1),
                                     as_of=T0 + timedelta(hours=1))[0].consent is False


def test_a_failed_batch_writes_nothing(store) -> None:
    with pytest.raises(RuntimeError):
        with store.writer() as writer:
            writer.add([prediction("p1", T0)], [answer("p1", 1, T0)])
            raise RuntimeError("validation failed later in the file")
    with store.writer() as writer:
        assert writer.known(["p1"]) == {}
    assert store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=10) == []


def test_known_predictions_report_fingerprint_and_version(store) -> None:
    store.add([prediction("p1", T0)], [])
    with store.writer() as writer:
        known = writer.known(["p1", "nope"])
    assert list(known) == ["p1"] and known["p1"].fingerprint == "fp-p1" and known["p1"].version_id == V


def test_review_items_are_kept_with_their_decisions(store) -> None:
    store.save_review_items([ReviewItem("c", "i1", "p1", "7", "comment", ("label_from_comment",), "a" * 64)])
    store.decide_review_item("c", "i1", decision="approved", label="1", actor="user:bob")
    [item] = store.review_items("c")
    assert (item.decision, item.decided_label, item.actor, item.reasons) == (
        "approved", "1", "user:bob", ("label_from_comment",))


def test_negative_comment_counts_match_whole_words_and_phrases_as_of_now(store) -> None:
    now = T0 + timedelta(days=1)
    store.add(
        [prediction(f"p{i}", T0) for i in range(5)],
        [answer("p0", 0, T0 + timedelta(hours=1), "Image FLOUE, c'est un 7"),
         answer("p1", 0, T0 + timedelta(hours=1), "flouté mais correct"),
         answer("p2", 0, T0 + timedelta(hours=1), "pas net du tout, mauvais"),
         answer("p3", 0, T0 + timedelta(hours=1), "label_5 100% wrong"),
         answer("p4", 0, T0 + timedelta(hours=1), "mauvais")],
    )
    store.add([], [answer("p4", 1, now + timedelta(hours=1), "finalement ok")])  # after now: p4 still counts
    terms = ("floue", "mauvais", "pas net", "wrong", "label_5", "100%")
    matching, per_term, negative = store.negative_comment_counts(V, since=T0, until=now, terms=terms)
    assert negative == 5
    assert matching == 4
    assert {t: n for t, n in per_term.items() if n} == {"floue": 1, "mauvais": 2, "pas net": 1, "wrong": 1,
                                                         "label_5": 1, "100%": 1}  # a term is its words: "100"


def test_the_latest_of_several_answers_in_one_batch_wins_by_time_then_order(store) -> None:
    store.add(
        [prediction("p1", T0), prediction("p2", T0)],
        [answer("p1", 0, T0 + timedelta(minutes=5)), answer("p1", 1, T0 + timedelta(minutes=1)),
         answer("p2", 1, T0 + timedelta(minutes=1)), answer("p2", 0, T0 + timedelta(minutes=1))],
    )
    rows = store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=10)
    assert [r.satisfied for r in rows] == [False, False]


def test_a_bulk_batch_keeps_every_value_exactly(store) -> None:
    """Large batches take the bulk path (COPY on PostgreSQL): text with tabs, newlines, backslashes, quotes and
    non-ASCII, and NULLs, come back as they went in."""
    odd = ["tab\there", "new\nline", "back\\slash \\N", "quote \" ' ,", "accentué 🙂", "\\.", ""]
    preds = [prediction(f"b{i:03d}", T0 + timedelta(seconds=i), user=f"u\t{i}" if i % 2 else None) for i in range(120)]
    answers = [answer(f"b{i:03d}", 0, T0 + timedelta(minutes=5), odd[i % len(odd)] or None, label=str(i % 10))
               for i in range(120)]
    store.add(preds, answers)
    later = [answer(f"b{i:03d}", 0, T0 + timedelta(minutes=9), f"plus tard {odd[i % len(odd)]}", label="7")
             for i in range(60)]
    store.add([], later)
    candidates = {c.prediction_id: c for c in store.curation_candidates([V], since=None, as_of=T0 + timedelta(hours=1))}
    assert len(candidates) == 120
    for i in range(120):
        got = candidates[f"b{i:03d}"]
        expected = f"plus tard {odd[i % len(odd)]}" if i < 60 else odd[i % len(odd)] or None
        assert (got.comment, got.corrected_label) == (expected, "7" if i < 60 else str(i % 10))
    with store.writer() as writer:
        assert len(writer.known([f"b{i:03d}" for i in range(120)])) == 120
        assert len(writer.feedback_fingerprints([f"b{i:03d}" for i in range(120)])) == 180
    assert len(store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=1000)) == 120


@pytest.mark.parametrize("size", [3, 120])  # a plain insert, and the bulk path (COPY on PostgreSQL)
def test_predictions_that_look_new_are_written_only_if_none_is_stored(store, size: int) -> None:
    """add_if_new: one id already stored (by an earlier batch, or earlier in this one) and nothing of the chunk is
    written, its own answers and hourly counts included; what the transaction wrote before it stays."""
    def rows(writer, first: int) -> tuple[list, list]:
        encoded = [writer.encoder.prediction(prediction(f"n{i:03d}", T0 + timedelta(seconds=i)),
                                             answer(f"n{i:03d}", 1, T0 + timedelta(minutes=1)))
                   for i in range(first, first + size)]
        return [row for row, _ in encoded], [own for _, own in encoded]

    store.add([prediction("stored", T0)], [])
    with store.writer(exclusive=True) as writer:
        assert writer.add_if_new(*rows(writer, 0))
        clash = rows(writer, size)
        clash[0][-1] = writer.encoder.prediction(prediction("stored", T0), None)[0]
        assert not writer.add_if_new(*clash)
        assert not writer.add_if_new(*rows(writer, 0))  # written earlier in this transaction
        assert len(writer.known([f"n{i:03d}" for i in range(2 * size)])) == size
    assert len(store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=1000)) == size
    assert store.error_counts(V, since=T0 - timedelta(minutes=1), until=T0 + timedelta(hours=1)) == (0, size + 1)


def replace(store, new: StoredPrediction, own: StoredFeedback | None) -> list[str]:
    """`replace_encoded` of one prediction in an exclusive writer, as ingestion does."""
    with store.writer(exclusive=True) as writer:
        assert writer.stored_before([new.prediction_id, "nope"]) == {new.prediction_id}
        row, answer_row = writer.encoder.prediction(new, own)
        return writer.replace_encoded([row], [answer_row] if answer_row is not None else [])


def test_a_replaced_prediction_is_rewritten_in_place_and_every_window_sees_its_new_content(store) -> None:
    """The old row leaves its version and hour (its error too); its answers, the later one included, give way to
    the record's own; it keeps its place in ingestion order (p1 stays before p2, served at the same time)."""
    later = T0 + timedelta(hours=5)
    store.add([prediction("p1", T0, status="error")._replace(image_sha256="a" * 64),
               prediction("p2", later, version=W)],
              [answer("p1", 0, T0 + timedelta(minutes=1), "trop flou"), answer("p1", 0, T0 + timedelta(minutes=9)),
               answer("p2", 0, later)])
    new = prediction("p1", later, version=W)._replace(fingerprint="fp-new")
    assert replace(store, new, answer("p1", 1, later, "merci")) == ["a" * 64]

    day = timedelta(days=1)
    assert store.error_counts(V, since=T0 - day, until=T0 + day) == (0, 0)
    assert store.error_counts(W, since=T0 - day, until=T0 + day) == (0, 2)
    assert store.rated_outcomes(V, as_of=T0 + day, limit=10) == []
    assert [r.satisfied for r in store.rated_outcomes(W, as_of=T0 + day, limit=10)] == [True, False]
    assert store.negative_comments(V, since=T0 - day, until=T0 + day) == []
    assert [(r.version_id, r.rated, r.satisfied) for r in store.daily_satisfaction()] == [(W, 2, 1)]
    [candidate, _] = store.curation_candidates([W], since=None, as_of=T0 + day)
    assert (candidate.prediction_id, candidate.feedback, candidate.image_sha256) == ("p1", 1, None)
    with store.writer() as writer:
        assert writer.known(["p1"])["p1"].fingerprint == "fp-new"
        assert writer.feedback_fingerprints(["p1"]) == {("p1", answer("p1", 1, later, "merci").fingerprint)}


def test_a_replacement_without_an_answer_leaves_the_prediction_unrated(store) -> None:
    store.add([prediction("p1", T0)], [answer("p1", 0, T0)])
    assert replace(store, prediction("p1", T0)._replace(fingerprint="fp-new"), None) == []
    assert store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=10) == []
    assert store.error_counts(V, since=T0 - timedelta(days=1), until=T0 + timedelta(days=1)) == (0, 1)


def test_only_predictions_stored_before_an_exclusive_transaction_count_as_stored_before(store) -> None:
    store.add([prediction("old", T0)], [])
    with store.writer(exclusive=True) as writer:
        writer.add_encoded([writer.encoder.prediction(prediction("new", T0), None)[0]], [])
        assert set(writer.known(["old", "new"])) == {"old", "new"}
        assert writer.stored_before(["old", "new"]) == {"old"}


def test_a_failed_batch_leaves_a_replaced_prediction_as_it_was(store) -> None:
    store.add([prediction("p1", T0)], [answer("p1", 0, T0)])
    with pytest.raises(RuntimeError), store.writer(exclusive=True) as writer:
        row, own = writer.encoder.prediction(prediction("p1", T0)._replace(fingerprint="fp-new"), answer("p1", 1, T0))
        writer.replace_encoded([row], [own])
        raise RuntimeError("a later record was refused")
    with store.writer() as writer:
        assert writer.known(["p1"])["p1"].fingerprint == "fp-p1"
    assert [r.satisfied for r in store.rated_outcomes(V, as_of=T0 + timedelta(hours=1), limit=10)] == [False]


def test_review_context_shows_each_prediction_as_served_with_its_latest_answer(store) -> None:
    store.add([prediction("p1", T0, image_type="phone"), prediction("p2", T0)],
              [answer("p1", 0, T0 + timedelta(minutes=1), comment="flou, c'est un 7"),
               answer("p1", 0, T0 + timedelta(minutes=5), comment="c'est un 4", label="4", consent=True)])
    found = store.review_context(["p1", "p2", "unknown"])
    assert set(found) == {"p1", "p2"}
    first = found["p1"]
    assert (first.predicted_label, first.confidence, first.image_type) == ("3", 0.8, "phone")
    assert (first.comment, first.corrected_label, first.feedback_at) == ("c'est un 4", "4", T0 + timedelta(minutes=5))
    assert first.served_at == T0 and first.consent
    assert (found["p2"].comment, found["p2"].feedback_at, found["p2"].consent) == (None, None, False)


def test_daily_satisfaction_counts_each_rated_prediction_by_version_type_and_day(store) -> None:
    day = timedelta(days=1)
    store.add(
        [prediction("a", T0), prediction("b", T0 + timedelta(hours=1)), prediction("c", T0, image_type="phone"),
         prediction("d", T0 + day, version=W), prediction("e", T0 + day), prediction("unrated", T0)],
        [answer("a", 1, T0), answer("b", 0, T0 + timedelta(hours=1)), answer("c", 0, T0),
         answer("d", 1, T0 + day), answer("e", 1, T0 + day), answer("e", 0, T0 + 2 * day)],
    )
    rows = {(r.version_id, r.image_type, r.day.isoformat()): (r.rated, r.satisfied)
            for r in store.daily_satisfaction()}
    assert rows == {(V, "scan", "2026-05-01"): (2, 1), (V, "phone", "2026-05-01"): (1, 0),
                    (W, "scan", "2026-05-02"): (1, 1), (V, "scan", "2026-05-02"): (1, 0)}
    then = {(r.version_id, r.image_type, r.day.isoformat()): (r.rated, r.satisfied)
            for r in store.daily_satisfaction(until=T0 + day + timedelta(hours=1))}
    assert then[(V, "scan", "2026-05-02")] == (1, 1)  # the later answer was not given yet
    assert {r.day.isoformat() for r in store.daily_satisfaction(until=T0 + timedelta(hours=2))} == {"2026-05-01"}


def test_a_sqlite_store_cuts_its_write_ahead_log_back_after_a_large_batch(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived process (the server) keeps its connections: the log a large batch grew is cut back to the limit
    when the next write starts it over, instead of staying as large as that batch."""
    monkeypatch.setattr(feedback_store, "WAL_LIMIT_BYTES", 1024 * 1024)
    sql = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    wal = tmp_path / "feedback.db-wal"
    try:
        sql.add([prediction(f"w{i:05d}", T0 + timedelta(seconds=i)) for i in range(20_000)], [])
        assert wal.stat().st_size > 4 * 1024 * 1024
        sql.add([prediction("after", T0)], [])
        assert wal.stat().st_size <= 1024 * 1024
        with sql.writer() as writer:
            assert len(writer.known(["w00000", "w19999", "after"])) == 3
    finally:
        sql.close()


def _asked(role: type) -> set[str]:
    """Every method a role Protocol asks for, its role bases' included."""
    return {name for base in role.__mro__ if getattr(base, "_is_protocol", False) and base is not Protocol
            for name in vars(base) if not name.startswith("_")}


@pytest.mark.parametrize(("role", "fake"), [
    (ports.FeedbackIntake, fakes.InMemoryIntake), (ports.TrafficStatistics, fakes.InMemoryTrafficStatistics),
    (ports.ReviewQueue, fakes.InMemoryReviewQueue), (ports.ConsoleFigures, fakes.InMemoryConsoleFigures),
    (ports.UserData, fakes.InMemoryUserData), (ports.FeedbackStore, fakes.InMemoryFeedbackStore),
    (ports.FeedbackStore, SqlAlchemyFeedbackStore),
])
def test_each_role_fake_implements_its_role_and_both_stores_every_role(role: type, fake: type) -> None:
    assert _asked(role) - set(dir(fake)) == set()


def test_the_role_fakes_share_one_set_of_tables() -> None:
    tables = fakes.FeedbackTables()
    intake, statistics_, user = (fakes.InMemoryIntake(tables), fakes.InMemoryTrafficStatistics(tables),
                                 fakes.InMemoryUserData(tables))
    intake.add([prediction("p1", T0, user="u")], [answer("p1", 1, T0)])
    assert [r.satisfied for r in statistics_.rated_outcomes(V, as_of=T0, limit=10)] == [True]
    assert user.erase(["p1"]) == {"predictions": 1, "feedback": 1, "review_items": 0}
    assert statistics_.rated_outcomes(V, as_of=T0, limit=10) == []
