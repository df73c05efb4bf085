"""The per-item curation report: every candidate's fate, and events recorded before reports existed still load."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from application.curation import curation_report
from application.ledger import Ledger
from domain.retrain_campaign import RetrainCampaign
from domain.rules.curation import Candidate, curate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CLASSES = ["cat", "dog", "vache"]


def candidate(item: str, **fields: object) -> Candidate:
    base = {"prediction_id": item, "predicted_label": "dog", "predicted_at": T0,
            "feedback_at": T0 + timedelta(minutes=1), "consent": True, "feedback": 0, "image_sha256": item * 64,
            "image_ok": True}
    return Candidate(item=item, **{**base, **fields})  # type: ignore[arg-type]


def test_the_report_gives_each_candidate_one_outcome_in_candidate_order() -> None:
    candidates = [candidate("a", corrected_label="cat"), candidate("b", consent=False, comment="c'est une vache"),
                  candidate("c", comment="it is a cat", image_ok=False)]
    result = curate(candidates, CLASSES)
    entries = [{"item": "a", "label": "cat", "label_source": "corrected_label", "split": "train",
                "review": "accepted"}]
    report = curation_report("d" * 64, candidates, CLASSES, entries, result.excluded, {})
    assert report["dataset_id"] == "d" * 64
    assert [(i["item"], i["outcome"], i["reason"], i["label"], i["label_source"]) for i in report["items"]] == [
        ("a", "selected", None, "cat", "corrected_label"),
        ("b", "excluded", "no_consent", None, None),  # a comment without consent is not read, not even for a label
        ("c", "excluded", "corrupted", "cat", "comment"),
    ]


def test_a_dataset_curated_event_recorded_before_reports_loads_with_no_report() -> None:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    campaign = RetrainCampaign(number=1, version_id="v", version_label="v1", breaches=[], reason="by hand",
                               actor="user:olivia", timestamp=T0)
    campaign.record_dataset(dataset_id="d" * 64, included=0, train_items=0, validation_items=0, excluded={},
                            label_sources={}, awaiting_review=[], actor="system:campaign", timestamp=T0,
                            report_id="r" * 64)
    opened, curated = campaign.collect_events()
    stored = ledger.mapper.to_stored_event(curated)
    state = json.loads(stored.state)
    assert state.pop("report_id") == "r" * 64
    old = dataclasses.replace(stored, state=json.dumps(state).encode())
    event = ledger.mapper.to_domain_event(old)
    assert isinstance(event, RetrainCampaign.DatasetCurated)
    assert event.report_id is None
    replayed = event.mutate(opened.mutate(None))
    assert replayed is not None and replayed.dataset is not None
    assert (replayed.dataset["dataset_id"], replayed.dataset["report_id"]) == ("d" * 64, None)
