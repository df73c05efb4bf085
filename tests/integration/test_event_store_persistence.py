"""Aggregates saved to the real event stores come back identical, state and history, in a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.ledger import Ledger
from bootstrap import event_store_env
from domain.model_version import ModelVersion
from domain.retrain_campaign import RetrainCampaign
from domain.rollout import Rollout

T0 = datetime(2026, 3, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]

DUMP = """
import json, sys
from bootstrap import event_store_env
from application.ledger import Ledger
ledger = Ledger(env=event_store_env(sys.argv[1]))
def state(a):
    return {k: v for k, v in vars(a).items() if k != "_pending_events"}
out = {
    "versions": [state(v) for v in ledger.versions()],
    "campaigns": [state(c) for c in ledger.campaigns()],
    "rollouts": [state(r) for r in ledger.rollouts()],
    "events": [(type(e).__qualname__, str(e.originator_id), e.originator_version, e.timestamp.isoformat())
               for e in ledger.all_events()],
}
print(json.dumps(out, default=str, sort_keys=True))
"""


def _version(label: str, at: datetime) -> ModelVersion:
    return ModelVersion(
        label=label, parent_id=None, architecture="digits-cnn", input_spec={"mode": "L", "size": [8, 8]},
        classes=[str(d) for d in range(10)], artifact_sha256="a" * 64, dataset_id=None, strategy=None,
        training_config={"lr": 1e-4}, seed=7, training_metrics={"test_accuracy": 0.97}, baseline_ms=None,
        campaign_id=None, actor="user:alice", timestamp=at, architecture_options={},
    )


def _populate(ledger: Ledger) -> None:
    v1 = _version("v1", T0)
    v1.promote(reason="first", actor="user:alice", timestamp=T0, initial=True)
    v1.measure_baseline(baseline_ms=4.2, sample_size=200, actor="system:monitor", timestamp=T0 + timedelta(hours=1))
    v1.record_breach(rule="image_type", segment="phone", observed=0.41, threshold=0.7, window_size=100,
                     window_start=T0, window_end=T0 + timedelta(days=3), evidence={"satisfied": 41},
                     actor="system:monitor", timestamp=T0 + timedelta(days=3))
    campaign = RetrainCampaign(number=1, version_id=str(v1.id), version_label="v1",
                               breaches=[{"rule": "image_type", "segment": "phone", "observed": 0.41}], reason=None,
                               actor="system:monitor", timestamp=T0 + timedelta(days=3))
    campaign.record_dataset(dataset_id="b" * 64, included=40, train_items=32, validation_items=8,
                            excluded={"no_consent": 3}, label_sources={"comment": 40}, awaiting_review=["i1"],
                            actor="system:campaign", timestamp=T0 + timedelta(days=3))
    v2 = _version("v2", T0 + timedelta(days=3))
    v2.validate(parent_id=str(v1.id), gates=[{"name": "latency", "passed": True}], figures={"parent": {}},
                actor="system:campaign", timestamp=T0 + timedelta(days=3))
    rollout = Rollout(number=1, stable_id=str(v1.id), stable_label="v1", candidate_id=str(v2.id),
                      candidate_label="v2", campaign_id=str(campaign.id), plan=[{"percent": 10, "hours": 24}],
                      actor="system:rollout", timestamp=T0 + timedelta(days=4))
    v2.start_canary(rollout_id=str(rollout.id), actor="system:rollout", timestamp=T0 + timedelta(days=4))
    rollout.advance(reason="started", evidence={}, actor="system:rollout", timestamp=T0 + timedelta(days=4))
    ledger.save(v1, campaign)
    ledger.save(v2, rollout)


def _dump_in_new_process(url: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", DUMP, url], cwd=REPO, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return json.loads(result.stdout)


def _dump_here(ledger: Ledger) -> dict:
    state = lambda a: {k: v for k, v in vars(a).items() if k != "_pending_events"}  # noqa: E731
    return json.loads(json.dumps({
        "versions": [state(v) for v in ledger.versions()],
        "campaigns": [state(c) for c in ledger.campaigns()],
        "rollouts": [state(r) for r in ledger.rollouts()],
        "events": [(type(e).__qualname__, str(e.originator_id), e.originator_version, e.timestamp.isoformat())
                   for e in ledger.all_events()],
    }, default=str, sort_keys=True))


def test_aggregates_reload_identically_from_sqlite_in_a_new_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    ledger = Ledger(env=event_store_env(url))
    _populate(ledger)
    reloaded = _dump_in_new_process(url)
    assert reloaded == _dump_here(ledger)
    assert [e[0] for e in reloaded["events"]][:3] == ["ModelVersion.Registered", "ModelVersion.Promoted",
                                                      "ModelVersion.BaselineMeasured"]
    assert reloaded["versions"][0]["open_breaches"]["image_type/phone"]["observed"] == 0.41
    assert reloaded["rollouts"][0]["percent"] == 10


def test_stored_events_name_their_explicit_topics(tmp_path: Path) -> None:
    ledger = Ledger(env=event_store_env(f"sqlite:///{tmp_path / 'events.db'}"))
    _populate(ledger)
    topics = {n.topic for n in ledger.recorder.select_notifications(start=None, limit=100)}
    assert topics and all(topic.startswith("retrain.") for topic in topics), topics


@pytest.mark.postgres
def test_aggregates_reload_identically_from_postgresql_in_a_new_process(postgres_url: str) -> None:
    ledger = Ledger(env=event_store_env(postgres_url))
    _populate(ledger)
    assert _dump_in_new_process(postgres_url) == _dump_here(ledger)
