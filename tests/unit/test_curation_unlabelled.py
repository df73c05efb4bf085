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
