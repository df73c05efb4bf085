"""Correcting records (`ingest --replace`): a stored prediction is re-written with its new content, unless a curated
dataset uses it; without `replace`, or within one file, a changed record stays an error."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest

from application.ingestion_batch import BatchRejected
from tests.harness import Harness, png


def record(pid: str, **fields: object) -> str:
    base = {"prediction_id": pid, "timestamp": "2026-01-01T10:00:00+00:00", "model_version": "v1",
            "predicted_label": "3", "inference_ms": 4.5}
    return json.dumps({**base, **fields})


def corrected(pid: str, seed: int, **fields: object) -> str:
    """A consented correction with an image: what curation selects."""
    return record(pid, **{"image": base64.b64encode(png(seed)).decode(), "user_feedback": 0, "corrected_label": "7",
                          "gdpr_consent": True, **fields})


@pytest.fixture
def v1(harness: Harness) -> Harness:
    harness.register()
    return harness


def satisfied(harness: Harness) -> list[bool]:
    version = str(harness.app.ledger.version("v1").id)
    outcomes = harness.feedback.rated_outcomes(version, as_of=harness.clock.now().replace(year=2030), limit=100)
    return [outcome.satisfied for outcome in outcomes]


def curate(harness: Harness) -> None:
    harness.clock.advance(timedelta(days=2))  # the records were served after the harness's start
    campaign = harness.app.campaigns.open(reason="users report wrong labels", actor="user:olivia")
    harness.app.campaigns.curate(str(campaign.id))


def test_with_replace_a_changed_record_rewrites_its_prediction_and_the_windows_see_it(v1: Harness) -> None:
    v1.app.ingestion.ingest([record("a", user_feedback=0), record("b", user_feedback=0)])
    report = v1.app.ingestion.ingest([record("a", user_feedback=1), record("b", user_feedback=0), record("c")],
                                     replace=True)
    assert (report.predictions, report.feedback, report.duplicates, report.replaced) == (1, 0, 1, 1)
    assert report.as_json()["replaced"] == 1
    assert satisfied(v1) == [True, False]  # "a" keeps its place before "b"
    with pytest.raises(BatchRejected, match="'a' already exists with different content"):
        v1.app.ingestion.ingest([record("a", user_feedback=0)])  # without replace: as before


def test_a_prediction_a_curated_dataset_uses_is_refused_naming_the_dataset_and_nothing_is_written(v1: Harness) -> None:
    v1.app.ingestion.ingest([corrected("a", 1), record("b", user_feedback=1)])
    curate(v1)
    [campaign] = v1.app.ledger.campaigns()
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest([record("b", user_feedback=0), corrected("a", 1, corrected_label="8"), record("c")],
                                replace=True)
    [error] = rejected.value.report.errors
    assert (error.line, error.field) == (2, "prediction_id")
    assert error.reason == f"'a' cannot be replaced: campaign 1's dataset {campaign.dataset['dataset_id'][:12]} uses it"
    assert satisfied(v1) == [False, True]  # "b" was not re-written either
    with v1.feedback.writer() as writer:
        assert set(writer.known(["a", "b", "c"])) == {"a", "b"}


def test_skip_invalid_replaces_the_unused_records_and_reports_the_used_one(v1: Harness) -> None:
    v1.app.ingestion.ingest([corrected("a", 1), record("b", user_feedback=1)])
    curate(v1)
    refused: list[str] = []
    report = v1.app.ingestion.ingest([record("b", user_feedback=0), corrected("a", 1, corrected_label="8")],
                                     replace=True, skip_invalid=True, rejects=refused.append)
    assert (report.replaced, report.rejected) == (1, 1)
    assert refused == [corrected("a", 1, corrected_label="8")]
    assert satisfied(v1) == [False, False]


def test_the_same_id_twice_in_one_file_stays_an_error_with_replace(
    v1: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import application.ingestion as ingestion

    v1.app.ingestion.ingest([record("a"), record("b")])
    monkeypatch.setattr(ingestion, "CHUNK", 2)
    lines = [record("a", predicted_label="4"), record("a"),  # in one chunk, back to what was stored
             record("b", predicted_label="4"), record("x"), record("b", predicted_label="5"),  # across chunks
             record("n"), record("n", predicted_label="5")]  # new in this file, changed in a later chunk
    with pytest.raises(BatchRejected) as rejected:
        v1.app.ingestion.ingest(lines, replace=True)
    assert [str(e) for e in rejected.value.report.errors] == [
        "line 2: prediction_id: 'a' already exists (line 1) with different content",
        "line 5: prediction_id: 'b' already exists (line 3) with different content",
        "line 7: prediction_id: 'n' already exists with different content",
    ]


def test_answers_stored_for_a_replaced_prediction_give_way_and_those_after_it_in_the_file_are_kept(
    v1: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import application.ingestion as ingestion

    later = json.dumps({"prediction_id": "a", "user_feedback": 1, "timestamp": "2026-01-01T11:00:00Z"})
    v1.app.ingestion.ingest([record("a", user_feedback=0, comment="flou"), later])
    for chunk in (5_000, 1):  # the answer in the replacement's chunk, then in the next one
        monkeypatch.setattr(ingestion, "CHUNK", chunk)
        report = v1.app.ingestion.ingest([record("a", user_feedback=0, predicted_label=str(chunk)[0]), later],
                                         replace=True)
        assert (report.replaced, report.feedback, report.duplicates) == (1, 1, 0)
        with v1.feedback.writer() as writer:
            assert len(writer.feedback_fingerprints(["a"])) == 2  # the new record's own answer, and the later one
        assert satisfied(v1) == [True]


def test_an_image_no_record_names_after_a_replacement_leaves_the_blob_store(v1: Harness) -> None:
    first, second = png(1), png(2)
    shas = [hashlib.sha256(image).hexdigest() for image in (first, second)]
    v1.app.ingestion.ingest([record("a", image=base64.b64encode(first).decode()),
                             record("b", image=base64.b64encode(second).decode())])
    v1.app.ingestion.ingest([record("a", image=base64.b64encode(second).decode()),
                             record("b", image=base64.b64encode(first).decode(), predicted_label="4")], replace=True)
    assert [v1.blobs.has(sha) for sha in shas] == [True, True]  # swapped: both still named
    v1.app.ingestion.ingest([record("a"), record("b", predicted_label="4")], replace=True)
    assert [v1.blobs.has(sha) for sha in shas] == [False, False]
