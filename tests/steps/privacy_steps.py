"""Steps of privacy (SPEC section 7): consent, erasure (`retrain forget`) and a log that names nobody."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, then, when

from domain.retrain_campaign import RetrainCampaign
from tests.harness import Harness
from tests.steps.curation_steps import Images, campaign_events, curate_by_hand, current, entries_of


@given(parsers.parse("the feedback of {label} has been curated"), target_fixture="campaign")
def feedback_has_been_curated(harness: Harness, label: str) -> RetrainCampaign:
    harness.clock.advance(timedelta(hours=1))
    assert harness.app.ledger.production().label == label
    campaign = curate_by_hand(harness)
    assert not campaign.dataset_consumed
    return campaign


def forget(harness: Harness, images: Images, name: str, user: str) -> dict[str, Any]:
    """The erasure, with what the user had stored just before it: to look for it afterwards."""
    owned = harness.feedback.user_predictions(user)
    kept = {
        "user": user,
        "items": [pid for pid, _ in owned],
        "comments": [images.answers[pid].comment for pid, _ in owned if images.answers[pid].comment],
        "images": [harness.blobs.get(sha) for _, sha in owned if sha],
    }
    harness.clock.advance(timedelta(minutes=5))
    return {**kept, "report": harness.app.forget.forget(user, actor=f"user:{name}")}


@given(parsers.parse('the operator "{name}" has forgotten the user "{user}"'))
def has_forgotten(harness: Harness, images: Images, name: str, user: str) -> None:
    forget(harness, images, name, user)


@when(parsers.parse('the operator "{name}" forgets the user "{user}"'), target_fixture="erasure")
def forgets(harness: Harness, images: Images, name: str, user: str) -> dict[str, Any]:
    return forget(harness, images, name, user)


# -- what is stored -----------------------------------------------------------------------------------------
def feedback_store_bytes(harness: Harness) -> bytes:
    """Everything the feedback store holds: its files for SQLite, every row for PostgreSQL, the lists in memory."""
    store: Any = harness.feedback
    engine = getattr(store, "engine", None)
    if engine is None:
        return repr((store.predictions, store.feedback, store.reviews)).encode()
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database)
        return b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    from sqlalchemy import MetaData, select

    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return repr([list(connection.execute(select(t))) for t in metadata.sorted_tables]).encode()


def blob_store_bytes(harness: Harness) -> list[bytes]:
    """Every blob: in memory, every file under the store's directory, or every object in its S3 bucket."""
    store: Any = harness.blobs
    if hasattr(store, "blobs"):
        return list(store.blobs.values())
    if hasattr(store, "bucket"):
        pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return [store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read() for key in keys]
    return [path.read_bytes() for path in Path(store.root).rglob("*") if path.is_file()]


def event_bytes(harness: Harness) -> list[bytes]:
    recorder = harness.app.ledger.recorder
    return [n.state for n in recorder.select_notifications(start=None, limit=10**7)]


def traces(erasure: dict[str, Any]) -> list[bytes]:
    return [erasure["user"].encode(), *(c.encode() for c in erasure["comments"]),
            *(i.encode() for i in erasure["items"]), *erasure["images"]]


# -- Then -----------------------------------------------------------------------------------------------
@then(parsers.parse("the report counts {predictions:d} predictions, {feedback:d} feedback records and "
                    "{count:d} images deleted"))
def report_counts(erasure: dict[str, Any], predictions: int, feedback: int, count: int) -> None:
    deleted = erasure["report"]["deleted"]
    assert (deleted["predictions"], deleted["feedback"], deleted["images"]) == (predictions, feedback, count), deleted


@then(parsers.parse('nothing of "{user}" remains in the feedback store or the blob store'))
def nothing_remains(harness: Harness, erasure: dict[str, Any], user: str) -> None:
    assert erasure["user"] == user and erasure["items"] and erasure["images"]
    stored = [feedback_store_bytes(harness), *blob_store_bytes(harness)]
    for trace in traces(erasure):
        assert not any(trace in chunk for chunk in stored), f"{trace[:40]!r} is still stored"


@then(parsers.parse('the answer "{item}" is still stored'))
def answer_still_stored(harness: Harness, item: str) -> None:
    with harness.feedback.writer() as writer:
        assert item in writer.known([item])


@then(parsers.parse("the campaign records DatasetAmended with a new dataset of {count:d} items"))
def dataset_amended(harness: Harness, campaign: RetrainCampaign, count: int) -> None:
    (row,) = campaign_events(harness, campaign, "DatasetAmended")
    details = row["details"]
    assert details["dataset_id"] and details["dataset_id"] != campaign.dataset["dataset_id"]
    assert details["included"] == count and details["removed"] == 1 and details["reason"] == "erasure"
    assert current(harness, campaign).training_dataset_id == details["dataset_id"]


@then(parsers.parse('the dataset the campaign will train on leaves out "{item}"'))
def training_dataset_leaves_out(harness: Harness, campaign: RetrainCampaign, item: str) -> None:
    dataset_id = current(harness, campaign).training_dataset_id
    assert item not in entries_of(harness, dataset_id)
    assert not harness.blobs.has(campaign.dataset["dataset_id"])  # the old manifest is gone with the user's item


@then("the report lists the campaign's new dataset as amended")
def report_lists_amended(harness: Harness, campaign: RetrainCampaign, erasure: dict[str, Any]) -> None:
    fresh = current(harness, campaign)
    assert erasure["report"]["datasets_amended"] == [
        {"campaign": fresh.number, "dataset_id": fresh.training_dataset_id, "removed": 1}]
    assert erasure["report"]["consumed_by"] == {"datasets": [], "versions": []}


@then(parsers.parse("the report lists the campaign's new dataset as amended, without {count:d} items"))
def report_lists_amended_without(harness: Harness, campaign: RetrainCampaign, erasure: dict[str, Any],
                                 count: int) -> None:
    fresh = current(harness, campaign)
    assert erasure["report"]["datasets_amended"] == [
        {"campaign": fresh.number, "dataset_id": fresh.training_dataset_id, "removed": count}]


@then(parsers.parse("the report names the dataset {label} was trained on, and {label2}, as having consumed the "
                    "user's data"))
def report_names_consumed(harness: Harness, erasure: dict[str, Any], label: str, label2: str) -> None:
    version = harness.app.ledger.version(label)
    consumed = erasure["report"]["consumed_by"]
    assert version.dataset_id in consumed["datasets"] and consumed["versions"] == [label2]
    assert harness.blobs.has(version.dataset_id)  # what a model learnt from is not re-written


@then("no dataset is amended")
def no_dataset_amended(erasure: dict[str, Any]) -> None:
    assert erasure["report"]["datasets_amended"] == []


def erasures(harness: Harness) -> list[dict[str, Any]]:
    return [row for row in harness.app.audit.history() if row["event"] == "ErasureRecorded"]


@then(parsers.parse('ErasureRecorded is recorded by "{actor}" with counts only'))
def erasure_recorded(harness: Harness, actor: str) -> None:
    (row,) = erasures(harness)
    assert row["actor"] == actor
    assert all(isinstance(value, int) for value in row["details"].values()), row["details"]
    assert row["details"]["predictions"] == 1


@then("ErasureRecorded is recorded once")
def erasure_recorded_once(harness: Harness) -> None:
    assert len(erasures(harness)) == 1


@then(parsers.parse('no stored event holds "{user}", her comments or her prediction ids'))
def no_event_holds(harness: Harness, erasure: dict[str, Any], user: str) -> None:
    assert erasure["user"] == user
    events = event_bytes(harness)
    assert any(b"awaiting_review" in event for event in events)  # her item awaits review: named by its digest
    for trace in traces(erasure):
        assert not any(trace in event for event in events), f"an event holds {trace[:40]!r}"
    assert json.dumps(harness.app.audit.history()).find(user) == -1
