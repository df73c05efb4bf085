"""As a new user: ingest feedback where each exclusion reason occurs a known number of times, curate it with
`retrain tick`, check the counts and the dataset on disk, review every critical item, and see the campaign go on."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from domain.rules.curation import item_reference
from tests.e2e.cli import CLASSES, run
from tests.e2e.feedback_data import (
    CORRECTED,
    CURATED_AT,
    EXCLUDED,
    FROM_COMMENTS,
    INGESTED_AT,
    Feedback,
    crafted,
    split_of,
)


@pytest.fixture
def home(tmp_path: Path, weights: Path) -> Path:
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4", "--now", "2026-02-01T00:00:00Z")
    assert registered.returncode == 0, registered.stderr
    return home


@pytest.fixture
def feedback() -> Feedback:
    return crafted()


def ingest_and_curate(home: Path, data: Feedback, path: Path) -> dict[str, Any]:
    path.write_text("".join(json.dumps(record) + "\n" for record in data.records))
    ingested = run(home, "ingest", str(path), "--now", INGESTED_AT)
    assert ingested.returncode == 0, ingested.stderr
    ticked = run(home, "tick", "--now", CURATED_AT)
    assert ticked.returncode == 0, ticked.stderr
    [campaign] = json.loads(run(home, "campaigns", "--json").stdout)
    return campaign


def campaign_json(home: Path, ref: str) -> dict[str, Any]:
    shown = run(home, "campaign", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_tick_curates_the_crafted_feedback_with_exact_counts_and_a_dataset_that_rehashes_to_its_id(
    home: Path, feedback: Feedback, tmp_path: Path
) -> None:
    campaign = ingest_and_curate(home, feedback, tmp_path / "feedback.jsonl")

    assert (campaign["version"], campaign["state"], campaign["breaches"][0]["rule"]) == (
        "v1", "awaiting_review", "satisfaction")
    dataset = campaign["dataset"]
    assert dataset["excluded"] == EXCLUDED
    assert dataset["included"] == CORRECTED + FROM_COMMENTS
    assert dataset["awaiting_review"] == FROM_COMMENTS + 1
    train = sum(1 for image in feedback.selected_images if split_of(image) == "train")
    assert (dataset["train_items"], dataset["validation_items"]) == (train, CORRECTED + FROM_COMMENTS - train)
    history = json.loads(run(home, "history", "--json").stdout)
    (curated,) = [e["details"] for e in history if e["event"] == "DatasetCurated"]
    assert curated["label_sources"] == {"corrected_label": CORRECTED, "comment": FROM_COMMENTS}

    blobs = home / "blobs"
    manifest_bytes = (blobs / dataset["id"][:2] / dataset["id"]).read_bytes()
    assert hashlib.sha256(manifest_bytes).hexdigest() == dataset["id"]
    entries = json.loads(manifest_bytes)["items"]
    assert len(entries) == CORRECTED + FROM_COMMENTS
    for entry in entries:
        image = (blobs / entry["image_sha256"][:2] / entry["image_sha256"]).read_bytes()
        assert hashlib.sha256(image).hexdigest() == entry["image_sha256"]
        assert entry["split"] == split_of(image)

    items = campaign_json(home, "1")["items"]
    assert Counter(i["reason"] for i in items if i["outcome"] == "excluded") == Counter(EXCLUDED)
    assert sum(1 for i in items if i["outcome"] == "selected") == CORRECTED + FROM_COMMENTS
    assert {i["prediction_id"] for i in items} == {r["prediction_id"] for r in feedback.records}
    table = run(home, "campaign", "show", "1", "--items")
    assert table.returncode == 0, table.stderr
    assert "no_consent" in table.stdout and "duplicate" in table.stdout


def test_after_every_critical_item_is_decided_the_campaign_moves_on(
    home: Path, feedback: Feedback, tmp_path: Path
) -> None:
    ingest_and_curate(home, feedback, tmp_path / "feedback.jsonl")
    listed = run(home, "review", "list", "1", "--json")
    assert listed.returncode == 0, listed.stderr
    queue = json.loads(listed.stdout)
    assert sorted((row["label"], row["label_source"]) for row in queue) == [
        ("8", "corrected_label"), ("9", "comment"), ("9", "comment"), ("9", "comment")]
    assert all(row["decision"] is None for row in queue)

    *approved, rejected = queue
    for row in approved:
        decided = run(home, "review", "decide", "1", row["item"], "--approve", "--actor", "user:alice")
        assert decided.returncode == 0, decided.stderr
        assert json.loads(run(home, "campaigns", "--json").stdout)[0]["state"] == "awaiting_review"
    decided = run(home, "review", "decide", "1", rejected["item"], "--reject", "--actor", "user:bob")
    assert decided.returncode == 0, decided.stderr

    assert json.loads(run(home, "campaigns", "--json").stdout)[0]["state"] == "open"
    history = json.loads(run(home, "history", "--json").stdout)
    decisions = [(e["actor"], e["details"]["decision"]) for e in history if e["event"] == "ReviewDecided"]
    assert decisions == [("user:alice", "approved")] * 3 + [("user:bob", "rejected")]
    (completed,) = [e for e in history if e["event"] == "ReviewCompleted"]
    assert (completed["actor"], completed["details"]["auto"]) == ("user:bob", False)
    assert (completed["details"]["approved"], completed["details"]["rejected"]) == (3, 1)
    reviewed = {i["prediction_id"]: i["review"] for i in campaign_json(home, "1")["items"]}
    assert reviewed[rejected["prediction_id"]] == "rejected"
    assert {reviewed[row["prediction_id"]] for row in approved} == {"approved"}

    # The next tick trains on the reviewed dataset with the real torch trainer (a few seconds on the digits).
    assert run(home, "tick", "--now", "2026-03-02T03:00:00Z").returncode == 0
    [campaign] = json.loads(run(home, "campaigns", "--json").stdout)
    events = [e["event"] for e in json.loads(run(home, "history", "--json").stdout)
              if e["aggregate"] == "RetrainCampaign"]
    assert events[events.index("ReviewCompleted"):][:5] == [  # the tick claims the training step, then runs it
        "ReviewCompleted", "StepClaimed", "StrategyChosen", "TrainingStarted", "CandidateTrained"]
    assert campaign["candidate"] == "v2"
    trained_on = json.loads((home / "blobs" / campaign["dataset"]["id"][:2] / campaign["dataset"]["id"]).read_bytes())
    used = {entry["item"] for entry in trained_on["items"]}  # a dataset names items by reference only
    assert len(used) == CORRECTED + FROM_COMMENTS - 1 and item_reference(rejected["prediction_id"]) not in used
    assert all("prediction_id" not in entry for entry in trained_on["items"])


def test_curating_the_same_data_again_gives_the_same_dataset_id(
    home: Path, feedback: Feedback, tmp_path: Path
) -> None:
    first = ingest_and_curate(home, feedback, tmp_path / "feedback.jsonl")
    assert run(home, "campaign", "abandon", "1", "--reason", "curate again").returncode == 0
    assert run(home, "campaign", "open", "--reason", "curate again").returncode == 0
    assert run(home, "tick", "--now", "2026-03-02T02:00:00Z").returncode == 0
    again = campaign_json(home, "2")
    assert again["dataset"]["curated_id"] == first["dataset"]["curated_id"]
    assert again["dataset"]["excluded"] == first["dataset"]["excluded"]


def test_campaign_show_tells_the_curated_campaign_in_lines_a_person_reads(
    home: Path, feedback: Feedback, tmp_path: Path
) -> None:
    campaign = ingest_and_curate(home, feedback, tmp_path / "feedback.jsonl")

    shown = run(home, "campaign", "show", "1")

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    dataset = campaign["dataset"]
    assert lines[0] == "Campaign 1 on v1: awaiting_review"
    assert lines[lines.index("Breaches:") + 1:][:2] == ["  satisfaction: observed 0.33 < 0.70 over 100",
                                                        "  image_type/phone: observed 0.33 < 0.70 over 100"]
    assert (f"Dataset: {CORRECTED + FROM_COMMENTS} items included ({dataset['train_items']} train, "
            f"{dataset['validation_items']} validation), {FROM_COMMENTS + 1} awaiting review") in lines
    (excluded,) = [line for line in lines if line.startswith("  excluded: ")]
    assert set(excluded.removeprefix("  excluded: ").split(", ")) == {f"{r} {n}" for r, n in EXCLUDED.items()}
    assert lines[-2:] == ["Strategy: not chosen yet", "Candidate: none yet"]
    assert "{" not in shown.stdout and "None" not in shown.stdout
