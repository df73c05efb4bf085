"""The images that ride along a curated dataset, unlabelled, for the training's drift matching."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from application.curation import Curator
from domain.rules.curation import Candidate

AT = datetime(2026, 1, 5, tzinfo=UTC)


def candidate(item: str, **fields: object) -> Candidate:
    base = Candidate(item=item, prediction_id=f"p-{item}", predicted_label="3", predicted_at=AT, feedback_at=AT,
                     consent=True, feedback=0, image_sha256=f"sha-{item}", image_ok=True, image_type="phone")
    return replace(base, **fields)


def test_only_consented_images_of_dissatisfied_users_that_were_not_selected_ride_along() -> None:
    candidates = [
        candidate("kept"),
        candidate("selected"),  # already in the dataset with a label
        candidate("no-consent", consent=False),
        candidate("satisfied", feedback=1),  # most were taken before the drift
        candidate("broken", image_ok=False),
        candidate("no-image", image_sha256=None),
        candidate("scan", image_type="scan"),
    ]
    kept = Curator._unlabelled(candidates, {"selected"})
    assert kept == [{"item": "kept", "image_sha256": "sha-kept", "image_type": "phone"},
                    {"item": "scan", "image_sha256": "sha-scan", "image_type": "scan"}]


def test_at_most_the_most_recent_per_image_type(monkeypatch) -> None:
    monkeypatch.setattr("application.curation.UNLABELLED_MAX", 2)
    candidates = [candidate(f"i{n}", feedback_at=AT + timedelta(hours=n)) for n in range(4)]
    assert [entry["item"] for entry in Curator._unlabelled(candidates, set())] == ["i2", "i3"]


def test_forget_removes_a_users_unlabelled_images_from_a_dataset_not_yet_used() -> None:
    from application.curation import manifest_bytes
    from application.erasure import Forget
    from domain.rules.curation import item_reference
    from tests.fakes import InMemoryBlobStore

    blobs = InMemoryBlobStore()
    mine, theirs = item_reference("p-mine"), item_reference("p-theirs")
    manifest = {"classes": ["0", "1"], "items": [],
                "unlabelled": [{"item": mine, "image_sha256": "a", "image_type": "phone"},
                               {"item": theirs, "image_sha256": "b", "image_type": "phone"}]}
    dataset_id = blobs.put(manifest_bytes(manifest))
    forget = Forget(ledger=None, feedback=None, blobs=blobs, clock=None)  # type: ignore[arg-type]
    amended = forget._without(dataset_id, {"p-mine"})
    assert amended is not None and amended["unlabelled"] == [manifest["unlabelled"][1]]
    assert forget._without(dataset_id, {"p-nobody"}) is None
