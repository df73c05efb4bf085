"""Ingestion (SPEC section 2): every record validated, atomic batches, idempotent re-sends, clear errors."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta

import pytest

from application.ingestion_batch import BatchRejected
from application.record_lines import OverlongLine, bounded_lines
from tests.harness import Harness, png


def record(pid: str, **fields: object) -> str:
    base = {"prediction_id": pid, "timestamp": "2026-01-01T10:00:00+00:00", "model_version": "v1",
            "predicted_label": "3", "inference_ms": 4.5}
    return json.dumps({**base, **fields})


@pytest.fixture
def v1(harness: Harness) -> Harness:
    harness.register()
    return harness


def rated(harness: Harness) -> int:
    version = str(harness.app.ledger.version("v1").id)
    return len(harness.feedback.rated_outcomes(version, as_of=harness.clock.now().replace(year=2030), limit=10_000))


def test_valid_records_land_with_their_inline_feedback(v1: Harness) -> None:
    report = v1.app.ingestion.ingest([record("a", user_feedback=1), record("b"),
                                      json.dumps({"prediction_id": "b", "user_feedback": 0,
                                                  "timestamp": "2026-01-01T11:00:00Z"})])
    assert (report.predictions, report.feedback, report.duplicates, report.rejected) == (2, 2, 0, 0)
    assert rated(v1) == 2


def test_one_invalid_record_rejects_the_whole_batch_and_names_its_line_and_field(v1: Harness) -> None:
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest([record("a", user_feedback=1), record("b", confidence=1.5), "{not json"])
    errors = [str(e) for e in rejected.value.report.errors]
    assert errors[0].startswith("line 2: confidence:")
    assert errors[1].startswith("line 3: malformed JSON")
    assert rated(v1) == 0


def test_skip_invalid_writes_the_valid_records_and_reports_the_rest(v1: Harness) -> None:
    rejected: list[str] = []
    report = v1.app.ingestion.ingest([record("a", user_feedback=1), record("b", status="ok", inference_ms=None)],
                                     skip_invalid=True, rejects=rejected.append)
    assert (report.predictions, report.rejected) == (1, 1)
    assert "inference_ms is required when status is ok" in str(report.errors[0])
    assert rejected == [record("b", status="ok", inference_ms=None)]
    assert rated(v1) == 1


def test_resending_the_same_record_is_a_duplicate_and_a_changed_one_is_an_error(v1: Harness) -> None:
    v1.app.ingestion.ingest([record("a", user_feedback=1)])
    again = v1.app.ingestion.ingest([record("a", user_feedback=1)])
    assert (again.predictions, again.feedback, again.duplicates) == (0, 0, 1)
    with pytest.raises(BatchRejected, match="already exists with different content"):
        v1.app.ingestion.ingest([record("a", user_feedback=0)])


def test_the_same_id_twice_in_one_file_with_other_content_names_the_first_line(v1: Harness) -> None:
    with pytest.raises(BatchRejected, match=r"line 2: prediction_id: 'a' already exists \(line 1\)"):
        v1.app.ingestion.ingest([record("a"), record("a", predicted_label="4")])


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (record("a", model_version="v9"), "model_version", "unknown model version"),
        (record("a", predicted_label="cat"), "predicted_label", "is not a class"),
        (json.dumps({"prediction_id": "zz", "user_feedback": 1}), "prediction_id", "unknown prediction"),
        (record("a", timestamp="2026-01-01T10:00:00"), "timestamp", "timezone"),
        (record("a", image="***"), "image", "not valid base64"),
        (record("a", image=base64.b64encode(b"GIF89a....").decode()), "image", "neither PNG nor JPEG"),
        (record("a", user_feedback=2), "user_feedback", "Input should be"),
        (record("a", user_feedback=True), "user_feedback", "Input should be a valid integer"),
        (record("a", user_feedback=1.0), "user_feedback", "Input should be a valid integer"),
        (json.dumps({"prediction_id": "zz", "user_feedback": False}), "user_feedback",
         "Input should be a valid integer"),
        (record("a", gdpr_consent=1), "gdpr_consent", "Input should be a valid boolean"),
        (record("a", gdpr_consent="yes"), "gdpr_consent", "Input should be a valid boolean"),
        (record("a", confidence=float("nan")), "confidence", "Input should be a finite number"),
        (record("a", confidence=float("inf")), "confidence", "Input should be a finite number"),
        (record("a", colour="red"), "colour", "Extra inputs are not permitted"),
        ("[1, 2]", "", "a record must be a JSON object"),
    ],
)
def test_each_invalid_record_gets_a_clear_reason(v1: Harness, line: str, field: str, reason: str) -> None:
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest([line])
    error = rejected.value.report.errors[0]
    assert (error.line, error.field) == (1, field)
    assert reason in error.reason


def test_a_corrected_label_outside_the_classes_is_accepted_for_curation_to_exclude(v1: Harness) -> None:
    report = v1.app.ingestion.ingest([record("a", user_feedback=0, corrected_label="cat", gdpr_consent=True)])
    assert report.predictions == 1


def test_images_are_stored_content_addressed(v1: Harness) -> None:
    image = png(5)
    v1.app.ingestion.ingest([record("a", image=base64.b64encode(image).decode())])
    candidates = v1.feedback.predictions["a"]
    assert candidates.image_sha256 and v1.blobs.get(candidates.image_sha256) == image


def test_a_feedback_record_may_follow_its_prediction_in_the_same_file(v1: Harness) -> None:
    report = v1.app.ingestion.ingest([record("a"), json.dumps({"prediction_id": "a", "user_feedback": 0,
                                                               "timestamp": "2026-01-02T00:00:00Z"})])
    assert report.feedback == 1


def test_the_same_instant_written_with_another_offset_is_the_same_content(v1: Harness) -> None:
    v1.app.ingestion.ingest([record("a", timestamp="2026-01-01T10:00:00+00:00")])
    again = v1.app.ingestion.ingest([json.dumps({"model_version": "v1", "prediction_id": "a", "inference_ms": 4.5,
                                                 "predicted_label": "3", "timestamp": "2026-01-01T12:00:00+02:00"})])
    assert again.duplicates == 1


def test_a_feedback_refers_to_a_prediction_of_an_earlier_chunk(v1: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import application.ingestion as ingestion

    monkeypatch.setattr(ingestion, "CHUNK", 2)
    lines = [record(f"p{i}") for i in range(5)]
    lines += [json.dumps({"prediction_id": "p0", "user_feedback": 1, "timestamp": "2026-01-02T00:00:00Z"}),
              record("p1"), record("p2", predicted_label="4")]
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest(lines)
    report = rejected.value.report
    assert (report.predictions, report.feedback, report.duplicates) == (5, 1, 1)
    assert [str(e) for e in report.errors] == ["line 8: prediction_id: 'p2' already exists with different content"]
    assert rated(v1) == 0


def test_worker_processes_prepare_chunks_with_the_same_outcome(v1: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import application.ingestion as ingestion

    monkeypatch.setattr(ingestion, "CHUNK", 3)
    lines = [record(f"p{i}", user_feedback=i % 2) for i in range(10)]
    lines += [record("p3", user_feedback=1), "{oops", record("p4", predicted_label="4"),
              json.dumps({"prediction_id": "p9", "user_feedback": 0, "timestamp": "2026-01-02T00:00:00Z"})]
    rejected: list[str] = []
    report = v1.app.ingestion.ingest(lines, skip_invalid=True, rejects=rejected.append, workers=2)
    assert (report.predictions, report.feedback, report.duplicates, report.rejected) == (10, 11, 1, 2)
    errors = [str(e) for e in report.errors]
    assert errors[0].startswith("line 12: malformed JSON")
    assert errors[1:] == ["line 13: prediction_id: 'p4' already exists with different content"]
    assert rejected == ["{oops", record("p4", predicted_label="4")]
    assert rated(v1) == 10


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_sent_again_is_duplicates_and_the_records_it_changed(v1: Harness, monkeypatch: pytest.MonkeyPatch,
                                                                   workers: int) -> None:
    """Chunks of new-looking predictions are written at once; one already stored makes its chunk go through the
    record-by-record checks (prepared again here when a worker sent back only its rows; after that, the workers
    send every chunk's entries)."""
    import application.ingestion as ingestion

    monkeypatch.setattr(ingestion, "CHUNK", 3)
    first = [record(f"p{i}", user_feedback=i % 2) for i in range(24)]
    assert v1.app.ingestion.ingest(first, workers=workers).predictions == 24
    again = [*first[:4], record("q1"), record("p5", predicted_label="4"), *first[6:], record("q2"), record("q3"),
             record("q4")]
    rejected: list[str] = []
    report = v1.app.ingestion.ingest(again, skip_invalid=True, rejects=rejected.append, workers=workers)
    assert (report.predictions, report.feedback, report.duplicates, report.rejected) == (4, 0, 22, 1)
    assert [str(e) for e in report.errors] == ["line 6: prediction_id: 'p5' already exists with different content"]
    assert rejected == [record("p5", predicted_label="4")]
    assert report.predictions_by_version == {str(v1.app.ledger.version("v1").id): 4}
    assert rated(v1) == 24


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_read_in_blocks_has_the_outcome_of_its_lines(v1: Harness, monkeypatch: pytest.MonkeyPatch,
                                                            workers: int) -> None:
    """ingest_stream: blocks of bytes split by the parsing workers, lines ended by \\n, \\r\\n or \\r, a refusal
    after parsing (its text is found in the block again), a line that is not UTF-8 and a last line without its end."""
    import application.record_lines as record_lines

    monkeypatch.setattr(record_lines, "BLOCK_BYTES", 300)
    lines = [record(f"p{i}", user_feedback=i % 2) for i in range(10)]
    lines += [record("p3", user_feedback=1), "{oops", record("p4", predicted_label="4"), "", "\udcff",
              json.dumps({"prediction_id": "p9", "user_feedback": 0, "timestamp": "2026-01-02T00:00:00Z"})]
    data = b"".join(line.encode("utf-8", "surrogateescape") + (b"\r\n", b"\n", b"\r")[i % 3]
                    for i, line in enumerate(lines)).rstrip(b"\r\n")
    rejected: list[str] = []
    report = v1.app.ingestion.ingest_stream(io.BytesIO(data), skip_invalid=True, rejects=rejected.append,
                                            workers=workers)
    assert (report.predictions, report.feedback, report.duplicates, report.rejected) == (10, 11, 1, 3)
    errors = [str(e) for e in report.errors]
    assert errors[0].startswith("line 12: malformed JSON")
    assert errors[1:] == ["line 13: prediction_id: 'p4' already exists with different content",
                          "line 15: not valid UTF-8"]
    assert [line.removesuffix("\n") for line in rejected] == ["{oops", record("p4", predicted_label="4"), "\udcff"]
    assert rated(v1) == 10


def test_a_rejected_batch_leaves_none_of_the_images_it_stored(v1: Harness) -> None:
    kept = png(6)
    v1.app.ingestion.ingest([record("kept", image=base64.b64encode(kept).decode())])
    before = set(v1.blobs.blobs)
    lines = [record("a", image=base64.b64encode(png(7)).decode()),  # new: removed with the batch
             record("b", image=base64.b64encode(kept).decode()),  # already stored for "kept": stays
             record("c", model_version="v9")]
    with pytest.raises(BatchRejected):
        v1.app.ingestion.ingest(lines)
    assert set(v1.blobs.blobs) == before


def test_a_line_longer_than_the_limit_is_refused_by_its_number_and_the_next_lines_are_read_whole() -> None:
    text = "a" * 10 + "\n" + "b" * 45 + "\n" + "d" * 10
    lines = list(bounded_lines(io.StringIO(text), limit=20))
    assert lines[0] == "a" * 10 + "\n" and lines[2:] == ["d" * 10]
    assert isinstance(lines[1], OverlongLine) and not isinstance(lines[0], OverlongLine)
    exact = list(bounded_lines(io.StringIO("e" * 20 + "\n" + "f"), limit=20))  # the limit itself is not too long
    assert exact == ["e" * 20 + "\n", "f"] and not any(isinstance(line, OverlongLine) for line in exact)


def test_an_overlong_line_is_refused_naming_its_line(v1: Harness) -> None:
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest([record("a"), OverlongLine('{"prediction_id": "b", "comment": "xxxx')])
    error = rejected.value.report.errors[0]
    assert error.line == 2 and "the line is longer than 8 MB" in error.reason


def test_the_image_check_given_to_ingestion_runs_on_every_image(v1: Harness) -> None:
    seen: list[bytes] = []
    v1.app.ingestion.image_check = lambda data: seen.append(data) or "image does not decode (test)"
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest([record("a", image=base64.b64encode(png(8)).decode())])
    assert seen == [png(8)] and rejected.value.report.errors[0].reason == "image does not decode (test)"


def test_a_feedback_without_timestamp_sent_again_later_is_a_duplicate(v1: Harness) -> None:
    v1.app.ingestion.ingest([record("a")])
    answer = json.dumps({"prediction_id": "a", "user_feedback": 0, "comment": "flou"})
    assert v1.app.ingestion.ingest([answer]).feedback == 1
    v1.clock.advance(timedelta(hours=1))
    again = v1.app.ingestion.ingest([answer])
    assert (again.feedback, again.duplicates) == (0, 1)
    changed = v1.app.ingestion.ingest([json.dumps({"prediction_id": "a", "user_feedback": 1})])
    assert changed.feedback == 1  # another answer is another record
