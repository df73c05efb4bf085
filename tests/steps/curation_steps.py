"""Steps for curation (SPEC 4.3): users' answers with consent, labels and images, and the dataset they give."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from adapters.blobs.filesystem import FilesystemBlobStore
from application.ports import BlobStore
from application.records import StoredFeedback, StoredPrediction
from domain.retrain_campaign import RetrainCampaign
from domain.rules.curation import item_reference
from domain.rules.validation_gates import ModelFigures
from tests.fakes import InMemoryBlobStore
from tests.harness import Harness, png

# Answers are written as of the clock: served ten minutes ago, answered a minute before or after (or two after).
SERVED_AGO = timedelta(minutes=10)
ANSWER_DELAYS = {"before": timedelta(minutes=-1), "after": timedelta(minutes=1), "later": timedelta(minutes=2)}


@dataclass(frozen=True)
class Answer:
    """One user's answer to one prediction, as a feature's table describes it."""

    item: str
    predicted: str = "0"
    satisfied: bool = False
    consent: bool = True
    corrected_label: str | None = None
    comment: str | None = None
    image: str = ""
    confidence: float = 0.5
    answered: str = "after"
    user: str | None = None


class Images:
    """Stores the images a scenario needs: fresh ones, named ones (same name, same image) and broken ones.

    It also remembers the latest feedback written per item, so that a step can answer again.
    """

    def __init__(self) -> None:
        self.seeds: Iterator[int] = itertools.count()
        self.named: dict[str, int] = {}
        self.answers: dict[str, StoredFeedback] = {}

    def fresh(self, harness: Harness, split: str | None = None) -> str:
        """A new, never-seen readable image; with `split`, one whose hash falls in that split."""
        while True:
            data = png(next(self.seeds))
            if split is None or split_of(hashlib.sha256(data).hexdigest()) == split:
                return harness.blobs.put(data)

    def stored(self, harness: Harness, spec: str) -> str | None:
        """The sha256 a prediction records for the image column's value."""
        if spec == "":
            return self.fresh(harness)
        if spec == "none":
            return None
        if spec == "not an image":
            return harness.blobs.put(b"these bytes are not an image")
        if spec == "truncated":
            return harness.blobs.put(png(10**9 + 2)[:40])
        if spec == "constant":
            return harness.blobs.put(_constant_png())
        if spec == "missing":
            return hashlib.sha256(png(10**9)).hexdigest()
        if spec == "tampered":  # the stored bytes no longer match their checksum
            sha = self.fresh(harness)
            corrupt_blob(harness.blobs, sha, png(10**9 + 1))
            return sha
        seed = self.named.setdefault(spec, 10**8 + len(self.named))
        return harness.blobs.put(png(seed))


def corrupt_blob(blobs: BlobStore, sha256: str, data: bytes) -> None:
    """What a bad disk or a careless hand does: other bytes under a blob's name, behind the store's back."""
    if isinstance(blobs, FilesystemBlobStore):
        (blobs.root / sha256[:2] / sha256).write_bytes(data)
    elif isinstance(blobs, InMemoryBlobStore):
        blobs.blobs[sha256] = data
    elif hasattr(blobs, "bucket"):  # S3: overwrite the object under its key
        blobs.client.put_object(Bucket=blobs.bucket, Key=blobs._key(sha256), Body=data)  # type: ignore[attr-defined]
    else:
        raise TypeError(f"no way to corrupt a blob in {type(blobs).__name__}")


def split_of(image_sha256: str) -> str:
    """The split SPEC 4.3 gives an image, computed independently: 20% of 10,000 buckets go to validation."""
    bucket = int(image_sha256[:16], 16) % 10_000
    return "validation" if bucket < 2_000 else "train"


def _constant_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=128).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def images() -> Images:
    return Images()


def write_answers(harness: Harness, images: Images, label: str, answers: list[Answer]) -> None:
    """The predictions and their feedback, written the way ingestion would."""
    version_id = str(harness.app.ledger.version(label).id)
    at = harness.clock.now() - SERVED_AGO
    predictions, feedback = [], []
    for answer in answers:
        predictions.append(StoredPrediction(
            answer.item, version_id, at, answer.predicted, 5.0, "ok", answer.confidence, "archive",
            images.stored(harness, answer.image), answer.user,
        ))
        feedback.append(StoredFeedback(
            answer.item, 1 if answer.satisfied else 0, at + ANSWER_DELAYS[answer.answered], answer.comment,
            answer.corrected_label, answer.consent,
        ))
    harness.feedback.add(predictions, feedback)
    images.answers.update((answer.prediction_id, answer) for answer in feedback)


def labelled_answers(harness: Harness, images: Images, label: str, count: int, split: str | None) -> None:
    """`count` consented corrections of a prediction of the first class, spread evenly over four other classes."""
    version = harness.app.ledger.version(label)
    at = harness.clock.now() - SERVED_AGO
    items = [harness.next_id() for _ in range(count)]
    harness.feedback.add(
        [StoredPrediction(item, str(version.id), at, version.classes[0], 5.0, "ok", 0.5, "archive",
                          images.fresh(harness, split), None) for item in items],
        [StoredFeedback(item, 0, at + ANSWER_DELAYS["after"], None, version.classes[1 + index % 4], True)
         for index, item in enumerate(items)],
    )


def _answer_from_row(row: dict[str, str]) -> Answer:
    def cell(name: str) -> str | None:
        value = row.get(name, "").strip()
        return value or None

    return Answer(
        item=row["item"].strip(),
        predicted=cell("predicted") or "0",
        satisfied=(cell("feedback") or "negative") == "positive",
        consent=(cell("consent") or "yes") == "yes",
        corrected_label=cell("corrected label"),
        comment=cell("comment"),
        image=cell("image") or "",
        confidence=float(cell("confidence") or 0.5),
        answered=cell("answered") or "after",
        user=cell("user"),
    )


# -- reading what the application shows ----------------------------------------------------------------
def current(harness: Harness, campaign: RetrainCampaign) -> RetrainCampaign:
    return harness.app.ledger.campaign(str(campaign.id))


def campaign_events(harness: Harness, campaign: RetrainCampaign, event: str) -> list[dict[str, Any]]:
    """The campaign's events of one kind, as `retrain history` shows them."""
    return [
        row for row in harness.app.audit.history()
        if row["aggregate"] == "RetrainCampaign" and row["aggregate_id"] == str(campaign.id) and row["event"] == event
    ]


def curated_details(harness: Harness, campaign: RetrainCampaign) -> dict[str, Any]:
    (row,) = campaign_events(harness, campaign, "DatasetCurated")
    return row["details"]


def manifest(harness: Harness, dataset_id: str) -> dict[str, Any]:
    return json.loads(harness.blobs.get(dataset_id))


class ByPrediction(dict[str, dict[str, Any]]):
    """A manifest's entries, keyed by their item reference and looked up by the prediction id a scenario names them
    by (manifests hold no prediction id: SPEC 7)."""

    def __contains__(self, name: object) -> bool:
        return super().__contains__(item_reference(str(name)))

    def __getitem__(self, name: str) -> dict[str, Any]:
        return super().__getitem__(item_reference(name))


def entries_of(harness: Harness, dataset_id: str) -> ByPrediction:
    return ByPrediction((entry["item"], entry) for entry in manifest(harness, dataset_id)["items"])


def manifest_entries(harness: Harness, campaign: RetrainCampaign) -> ByPrediction:
    """The curated dataset's items, as written to the blob store."""
    return entries_of(harness, curated_details(harness, campaign)["dataset_id"])


def counts(spec: str) -> dict[str, int]:
    """'no_consent=1, duplicate=2' as a dict."""
    pairs = (part.split("=") for part in spec.split(",") if part.strip())
    return {name.strip(): int(value) for name, value in pairs}


# -- Given ------------------------------------------------------------------------------------------------
@given(parsers.parse('{label} is in production with the classes "{classes}"'))
def version_with_classes(harness: Harness, label: str, classes: str) -> None:
    while harness.app.ledger.next_version_label() != label:
        harness.register(production=False)
    harness.register(production=True, classes=[c.strip() for c in classes.split(",")])


@given(parsers.parse("users answered {label}'s predictions"))
def users_answered(harness: Harness, images: Images, label: str, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    write_answers(harness, images, label, [_answer_from_row(dict(zip(header, row, strict=True))) for row in rows])


@given(parsers.parse('the user who answered "{item}" later answers again {how}'))
def answers_again(harness: Harness, images: Images, item: str, how: str) -> None:
    """A later feedback record replaces the earlier one: `how` is 'without consent', 'with consent' or 'satisfied'."""
    earlier = images.answers[item]
    later = StoredFeedback(
        item,
        1 if how == "satisfied" else earlier.user_feedback,
        earlier.feedback_at + timedelta(minutes=10),
        earlier.comment,
        earlier.corrected_label,
        {"without consent": False, "with consent": True, "satisfied": earlier.gdpr_consent}[how],
    )
    harness.feedback.add([], [later])
    images.answers[item] = later


@given(parsers.parse("{label} has {count:d} clearly labelled answers ready for training"))
def answers_ready_for_training(harness: Harness, images: Images, label: str, count: int) -> None:
    """Consented corrections, none of them critical, every image in the training split."""
    labelled_answers(harness, images, label, count, "train")


@given(parsers.parse("{label} has {count:d} clearly labelled answers"))
def clearly_labelled_answers(harness: Harness, images: Images, label: str, count: int) -> None:
    labelled_answers(harness, images, label, count, None)


@given(parsers.parse(
    "{label} has {train:d} clearly labelled answers whose images fall in the training split "
    "and {validation:d} in the validation split"
))
def answers_in_each_split(harness: Harness, images: Images, label: str, train: int, validation: int) -> None:
    labelled_answers(harness, images, label, train, "train")
    labelled_answers(harness, images, label, validation, "validation")


@given(parsers.parse('{count:d} users corrected {label}\'s predictions to "{target}"'))
def users_corrected_to(harness: Harness, images: Images, count: int, label: str, target: str) -> None:
    write_answers(harness, images, label, [
        Answer(harness.next_id(), corrected_label=target) for _ in range(count)
    ])


def train_a_candidate(harness: Harness, label: str) -> None:
    campaign = harness.app.campaigns.open(reason="users report wrong labels", actor="user:olivia")
    assert campaign.version_label == label
    harness.app.campaigns.advance(str(campaign.id))
    assert harness.app.ledger.campaign(str(campaign.id)).candidate is not None


@given(parsers.parse("a campaign on {label} has trained a candidate that was rejected"))
def campaign_trained_rejected(harness: Harness, label: str) -> None:
    train_a_candidate(harness, label)
    harness.clock.advance(timedelta(hours=1))


@given(parsers.parse("a campaign on {parent} has trained {candidate}, which then replaced {parent} in production"))
def campaign_trained_replacement(harness: Harness, parent: str, candidate: str) -> None:
    harness.evaluator.figures[candidate] = ModelFigures(validation_accuracy=0.99, test_accuracy=0.99, latency_ms=1.0)
    train_a_candidate(harness, parent)
    for _ in harness.app.settings.rollout.plan:
        harness.app.rollouts.promote_now(reason="release approved", actor="user:release-manager")
    assert harness.app.ledger.production().label == candidate
    harness.clock.advance(timedelta(hours=1))


# -- When -------------------------------------------------------------------------------------------------
def curate_by_hand(harness: Harness) -> RetrainCampaign:
    """Curate the production version's open campaign, or one an operator opens by hand."""
    production = harness.app.ledger.production()
    assert production is not None
    campaign = harness.app.ledger.open_campaign_for(str(production.id)) or harness.app.campaigns.open(
        reason="users report wrong labels", actor="user:olivia"
    )
    return harness.app.campaigns.curate(str(campaign.id))


@when(parsers.parse("the feedback of {label} is curated"), target_fixture="campaign")
def feedback_is_curated(harness: Harness, label: str) -> RetrainCampaign:
    harness.clock.advance(timedelta(hours=1))
    assert harness.app.ledger.production().label == label
    return curate_by_hand(harness)


@when(parsers.parse("the feedback of {label} is curated twice"), target_fixture="curated_twice")
def feedback_is_curated_twice(harness: Harness, label: str) -> list[RetrainCampaign]:
    harness.clock.advance(timedelta(hours=1))
    first = curate_by_hand(harness)
    harness.app.campaigns.abandon(str(first.id), reason="curate again", actor="user:olivia")
    harness.clock.advance(timedelta(hours=1))
    return [first, curate_by_hand(harness)]


# -- Then -------------------------------------------------------------------------------------------------
@then(parsers.parse("the answer is excluded as {reason}"))
def answer_excluded_as(harness: Harness, campaign: RetrainCampaign, reason: str) -> None:
    details = curated_details(harness, campaign)
    assert details["included"] == 0, details
    assert {k: v for k, v in details["excluded"].items() if v} == {reason: 1}, details["excluded"]


@then(parsers.parse("the dataset counts {count:d} items included"))
def dataset_counts_included(harness: Harness, campaign: RetrainCampaign, count: int) -> None:
    assert curated_details(harness, campaign)["included"] == count


@then(parsers.parse('the dataset counts the exclusions "{spec}"'))
def dataset_counts_exclusions(harness: Harness, campaign: RetrainCampaign, spec: str) -> None:
    expected = counts(spec)
    assert curated_details(harness, campaign)["excluded"] == expected


@then(parsers.parse("the dataset counts {count:d} items excluded as {reason}"))
@then(parsers.parse("the dataset counts {count:d} item excluded as {reason}"))
def dataset_counts_excluded_as(harness: Harness, campaign: RetrainCampaign, count: int, reason: str) -> None:
    assert curated_details(harness, campaign)["excluded"][reason] == count


@then(parsers.parse('the dataset counts the label sources "{spec}"'))
def dataset_counts_label_sources(harness: Harness, campaign: RetrainCampaign, spec: str) -> None:
    assert curated_details(harness, campaign)["label_sources"] == counts(spec)


@then(parsers.parse('the dataset includes "{item}"'))
def dataset_includes(harness: Harness, campaign: RetrainCampaign, item: str) -> None:
    assert item in manifest_entries(harness, campaign)


@then(parsers.parse('the dataset leaves out "{item}"'))
def dataset_leaves_out(harness: Harness, campaign: RetrainCampaign, item: str) -> None:
    assert item not in manifest_entries(harness, campaign)


@then(parsers.parse('the dataset labels "{item}" as "{label}" from the {source}'))
def dataset_labels(harness: Harness, campaign: RetrainCampaign, item: str, label: str, source: str) -> None:
    entry = manifest_entries(harness, campaign)[item]
    assert (entry["label"], entry["label_source"]) == (label, source.replace(" ", "_"))


@then(parsers.parse('"{item}" awaits review because of {reason}'))
def item_awaits_review(harness: Harness, campaign: RetrainCampaign, item: str, reason: str) -> None:
    queue = {row["prediction_id"]: row for row in harness.app.review.items(str(campaign.id))}
    assert item in queue, f"{item} is not in the review queue {sorted(queue)}"
    assert reason in queue[item]["reasons"], queue[item]
    assert current(harness, campaign).state == "awaiting_review"


@then(parsers.parse('"{item}" does not await review'))
def item_does_not_await_review(harness: Harness, campaign: RetrainCampaign, item: str) -> None:
    queue = {row["prediction_id"] for row in harness.app.review.items(str(campaign.id))}
    assert item not in queue
    assert manifest_entries(harness, campaign)[item]["review"] == "accepted"


@then(parsers.parse('{count:d} items labelled "{label}" await review because of {reason}'))
def items_await_review(harness: Harness, campaign: RetrainCampaign, count: int, label: str, reason: str) -> None:
    queue = harness.app.review.items(str(campaign.id))
    assert sum(1 for row in queue if row["label"] == label and reason in row["reasons"]) == count
    assert all(row["label"] == label for row in queue), queue


@then("every item is in the validation split exactly when its image hash falls in the first 20% of buckets")
def split_follows_image_hash(harness: Harness, campaign: RetrainCampaign) -> None:
    entries = list(manifest_entries(harness, campaign).values())
    assert {entry["split"] for entry in entries} == {"train", "validation"}
    for entry in entries:
        assert entry["split"] == split_of(entry["image_sha256"]), entry
    details = curated_details(harness, campaign)
    validation = sum(1 for entry in entries if entry["split"] == "validation")
    assert (details["train_items"], details["validation_items"]) == (len(entries) - validation, validation)


@then("the dataset id is the sha256 of its manifest, which lists each item's image hash, label, source and split")
def dataset_id_is_manifest_hash(harness: Harness, campaign: RetrainCampaign) -> None:
    dataset_id = curated_details(harness, campaign)["dataset_id"]
    assert hashlib.sha256(harness.blobs.get(dataset_id)).hexdigest() == dataset_id
    for entry in manifest(harness, dataset_id)["items"]:
        assert {"item", "image_sha256", "label", "label_source", "split"} <= entry.keys()
        assert harness.blobs.has(entry["image_sha256"])


@then("both curations give the same dataset id")
def same_dataset_id(harness: Harness, curated_twice: list[RetrainCampaign]) -> None:
    first, second = (curated_details(harness, campaign)["dataset_id"] for campaign in curated_twice)
    assert first == second
    assert curated_twice[0].id != curated_twice[1].id


@then(parsers.parse("the campaign ends with the outcome {outcome}"))
def campaign_ends_with(harness: Harness, campaign: RetrainCampaign, outcome: str) -> None:
    assert (current(harness, campaign).state, current(harness, campaign).outcome) == ("completed", outcome)
    (completed,) = campaign_events(harness, campaign, "Completed")
    assert completed["details"]["outcome"] == outcome


@then(parsers.parse("the campaign goes on with {count:d} training items"))
def campaign_goes_on(harness: Harness, campaign: RetrainCampaign, count: int) -> None:
    assert current(harness, campaign).state == "open"
    assert curated_details(harness, campaign)["train_items"] == count
    assert campaign_events(harness, campaign, "Completed") == []


def curation_report(harness: Harness, campaign: RetrainCampaign) -> dict[str, dict[str, Any]]:
    """`retrain campaign show --items` by the prediction id the scenario names each item by."""
    rows = harness.app.campaigns.curation_items(str(campaign.id))
    assert rows is not None, "the campaign has no curation report"
    return {row["prediction_id"]: {**row, "item": row["prediction_id"]} for row in rows}


@then("the curation report shows")
def curation_report_shows(harness: Harness, campaign: RetrainCampaign, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    report = curation_report(harness, campaign)
    for row in rows:
        expected = {name.replace(" ", "_"): value.strip() or None for name, value in zip(header, row, strict=True)}
        shown = report[expected["item"]]
        assert {key: shown[key] for key in expected} == expected, shown


@then("the curation report gives each selected answer the split of the dataset")
def curation_report_splits(harness: Harness, campaign: RetrainCampaign) -> None:
    entries = manifest_entries(harness, campaign)
    selected = {item: row for item, row in curation_report(harness, campaign).items() if row["outcome"] == "selected"}
    assert {item_reference(name) for name in selected} == set(entries.keys())
    assert all(row["split"] == entries[item]["split"] for item, row in selected.items())


@then("the curation report holds no comment text")
def curation_report_has_no_comments(harness: Harness, images: Images, campaign: RetrainCampaign) -> None:
    text = harness.blobs.get(current(harness, campaign).dataset["report_id"]).decode()
    comments = [answer.comment for answer in images.answers.values() if answer.comment]
    assert comments
    assert not [comment for comment in comments if json.dumps(comment)[1:-1] in text]
