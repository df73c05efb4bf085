"""Rule 4.3 at its boundaries: label extraction, selection and exclusion order, critical items, the split."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.rules.curation import (
    EXCLUSION_REASONS,
    Candidate,
    SelectedItem,
    critical_reasons,
    curate,
    enough_training_items,
    split_for,
    user_label,
)
from domain.rules.labels import extract_label

DIGITS = [str(d) for d in range(10)]
ANIMALS = ["cat", "dog", "vache", "chien", "éléphant", "7", "4", "3"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def candidate(item: str = "a", **changes: object) -> Candidate:
    """A candidate every check would select: consented, negative, corrected to 3, readable image, after the
    prediction."""
    base = Candidate(
        item=item, prediction_id=item, predicted_label="5", predicted_at=T0, feedback_at=T0 + timedelta(minutes=1),
        consent=True, feedback=0, corrected_label="3", comment=None, confidence=0.5, image_sha256=f"sha-{item}",
        image_ok=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sha_with_bucket(bucket: int) -> str:
    """An image hash whose first 8 bytes, as an integer, are `bucket` (so bucket mod 10,000 is known)."""
    return bucket.to_bytes(8, "big").hex() + "ab" * 24


# -- label extraction -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("comment", "label"), [
    ("c'est un 7", "7"),
    ("c'est une vache", "vache"),
    ("c'était un 3", "3"),
    ("ça devrait être 4", "4"),
    ("should be 4", "4"),
    ("it's a 4", "4"),
    ("it is a cat", "cat"),
    ("label: 4", "4"),
    ("label=4", "4"),
    ("label = 4", "4"),
    ("C'ÉTAIT UN 3", "3"),
    ("C’est une VACHE", "vache"),
    ("c'est un elephant", "éléphant"),
    ("it's an éléphant", "éléphant"),
    ("image floue. c'est un 7", "7"),
    ("c'est un 7, je répète: c'est un 7", "7"),
    ("c'est mauvais, c'est un chien", "chien"),
])
def test_a_label_pattern_names_one_of_the_classes(comment: str, label: str) -> None:
    assert extract_label(comment, ANIMALS) == label


@pytest.mark.parametrize("comment", [
    "c'est un 7, non c'est un 4",
    "it is a cat, should be dog",
    "c'est un cheval",
    "should be 74",
    "c'est un 77",
    "7",
    "la catégorie est 7",
    "",
    None,
])
def test_no_label_when_no_pattern_names_exactly_one_class(comment: str | None) -> None:
    assert extract_label(comment, ANIMALS) is None


def test_the_extracted_label_is_returned_as_the_class_is_spelled() -> None:
    assert extract_label("IT IS A CAT", ["Cat", "Dog"]) == "Cat"


def test_the_corrected_label_wins_over_the_comment() -> None:
    assert user_label(candidate(corrected_label="3", comment="c'est un 7"), DIGITS) == ("3", "corrected_label")
    assert user_label(candidate(corrected_label=None, comment="c'est un 7"), DIGITS) == ("7", "comment")
    assert user_label(candidate(corrected_label=None, comment="flou"), DIGITS) is None


# -- selection and the order of exclusion reasons ---------------------------------------------------------
def reason_of(one: Candidate) -> str | None:
    result = curate([one], DIGITS)
    return result.excluded.get(one.item)


def test_a_candidate_passing_every_check_is_selected_with_its_label_and_source() -> None:
    result = curate([candidate()], DIGITS)
    assert [(s.candidate.item, s.label, s.label_source) for s in result.selected] == [("a", "3", "corrected_label")]
    assert result.excluded == {}
    assert result.excluded_counts == dict.fromkeys(EXCLUSION_REASONS, 0)
    assert result.label_sources == {"corrected_label": 1, "comment": 0}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"consent": False}, "no_consent"),
    ({"feedback": 1}, "not_negative"),
    ({"feedback": None}, "not_negative"),
    ({"corrected_label": None}, "no_label"),
    ({"corrected_label": None, "comment": "c'est un chat"}, "no_label"),
    ({"image_sha256": None}, "corrupted"),
    ({"image_ok": False}, "corrupted"),
    ({"corrected_label": "12"}, "inconsistent"),
    ({"corrected_label": "5"}, "inconsistent"),
    ({"corrected_label": None, "comment": "c'est un 5"}, "inconsistent"),
    ({"feedback_at": T0 - timedelta(seconds=1)}, "inconsistent"),
])
def test_each_check_excludes_with_its_own_reason(changes: dict[str, object], reason: str) -> None:
    assert reason_of(candidate(**changes)) == reason


def test_feedback_given_at_the_moment_of_the_prediction_is_consistent() -> None:
    assert reason_of(candidate(feedback_at=T0)) is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"consent": False, "feedback": 1, "corrected_label": None, "image_ok": False}, "no_consent"),
    ({"feedback": 1, "corrected_label": None, "image_ok": False}, "not_negative"),
    ({"corrected_label": None, "image_ok": False, "feedback_at": T0 - timedelta(hours=1)}, "no_label"),
    ({"image_ok": False, "corrected_label": "5"}, "corrupted"),
    ({"image_sha256": None, "corrected_label": "12"}, "corrupted"),
])
def test_when_several_checks_fail_the_first_in_order_is_the_only_reason(changes: dict[str, object],
                                                                         reason: str) -> None:
    result = curate([candidate(**changes)], DIGITS)
    assert result.excluded == {"a": reason}
    assert sum(result.excluded_counts.values()) == 1


def test_an_image_with_two_different_user_labels_is_inconsistent_for_both_answers() -> None:
    result = curate([candidate("a", image_sha256="same"), candidate("b", image_sha256="same", corrected_label="4")],
                    DIGITS)
    assert result.selected == []
    assert result.excluded == {"a": "inconsistent", "b": "inconsistent"}


def test_an_excluded_answer_does_not_make_an_image_inconsistent() -> None:
    result = curate([candidate("a", image_sha256="same"),
                     candidate("b", image_sha256="same", corrected_label="4", consent=False)], DIGITS)
    assert [s.candidate.item for s in result.selected] == ["a"]
    assert result.excluded == {"b": "no_consent"}


@pytest.mark.parametrize(("minutes_a", "minutes_b", "kept"), [(2, 1, "a"), (1, 2, "b"), (1, 1, "b")])
def test_the_same_image_selected_twice_keeps_the_latest_feedback(minutes_a: int, minutes_b: int, kept: str) -> None:
    result = curate([
        candidate("a", image_sha256="same", feedback_at=T0 + timedelta(minutes=minutes_a)),
        candidate("b", image_sha256="same", feedback_at=T0 + timedelta(minutes=minutes_b)),
    ], DIGITS)
    assert [s.candidate.item for s in result.selected] == [kept]
    assert result.excluded_counts["duplicate"] == 1


def test_counts_cover_every_reason_and_every_label_source() -> None:
    result = curate([
        candidate("a"), candidate("b", corrected_label=None, comment="should be 4"), candidate("c", consent=False),
        candidate("d", feedback=1), candidate("e", corrected_label=None), candidate("f", image_ok=False),
        candidate("g", corrected_label="5"), candidate("h", image_sha256="x"), candidate("i", image_sha256="x"),
    ], DIGITS)
    assert result.excluded_counts == dict.fromkeys(EXCLUSION_REASONS, 1)
    assert result.label_sources == {"corrected_label": 2, "comment": 1}
    assert len(result.selected) + len(result.excluded) == 9


# -- critical items ---------------------------------------------------------------------------------------
def selected(source: str = "corrected_label", confidence: float | None = 0.5, label: str = "3") -> SelectedItem:
    return SelectedItem(candidate(confidence=confidence), label, source)  # type: ignore[arg-type]


def reasons(item: SelectedItem, per_label: int = 5) -> list[str]:
    return critical_reasons(item, {item.label: per_label}, critical_confidence=0.95, rare_class_min=5)


def test_a_corrected_label_with_a_hesitant_model_in_a_common_class_is_not_critical() -> None:
    assert reasons(selected()) == []


def test_a_label_read_from_a_comment_is_critical() -> None:
    assert reasons(selected(source="comment")) == ["label_from_comment"]


@pytest.mark.parametrize(("confidence", "critical"), [(0.95, True), (0.949999, False), (0.94, False), (1.0, True),
                                                      (None, False)])
def test_a_confident_model_proven_wrong_is_critical_from_095(confidence: float | None, critical: bool) -> None:
    assert ("confident_but_wrong" in reasons(selected(confidence=confidence))) is critical


@pytest.mark.parametrize(("count", "critical"), [(1, True), (4, True), (5, False), (6, False)])
def test_a_class_with_fewer_than_5_selected_items_is_critical(count: int, critical: bool) -> None:
    assert ("rare_class" in reasons(selected(), per_label=count)) is critical


def test_an_item_can_be_critical_for_every_reason_at_once() -> None:
    assert reasons(selected(source="comment", confidence=0.99), per_label=1) == [
        "label_from_comment", "confident_but_wrong", "rare_class",
    ]


# -- split and size ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bucket", "split"), [
    (0, "validation"), (1_999, "validation"), (2_000, "train"), (9_999, "train"), (10_000 + 1_999, "validation"),
    (10_000 + 2_000, "train"),
])
def test_the_split_puts_the_first_20_percent_of_hash_buckets_in_validation(bucket: int, split: str) -> None:
    assert split_for(sha_with_bucket(bucket), validation_fraction=0.2) == split


def test_the_split_depends_only_on_the_image_hash_and_is_close_to_80_20() -> None:
    import hashlib

    hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(5_000)]
    first = [split_for(h, validation_fraction=0.2) for h in hashes]
    assert first == [split_for(h, validation_fraction=0.2) for h in hashes]
    assert 0.18 < first.count("validation") / len(hashes) < 0.22


@pytest.mark.parametrize(("train_items", "enough"), [(0, False), (19, False), (20, True), (21, True)])
def test_a_dataset_needs_20_training_items(train_items: int, enough: bool) -> None:
    assert enough_training_items(train_items, minimum=20) is enough
