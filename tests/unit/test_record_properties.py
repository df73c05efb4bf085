"""Properties of record validation (SPEC section 2), over generated input: whatever a line holds, `prepare` answers
with an entry for it, never an exception; a valid record comes back as it was written; what the table refuses is
refused, naming its field."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from application.record_validation import prepare

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CLASSES = frozenset({"0", "1", "cat"})
VERSIONS = {"v1": ("version-1", CLASSES), "version-1": ("version-1", CLASSES)}
PROPERTIES = settings(deadline=None, database=None, max_examples=150)
FIELDS = ["prediction_id", "timestamp", "model_version", "predicted_label", "confidence", "inference_ms", "status",
          "image_type", "image", "user_ref", "user_feedback", "comment", "corrected_label", "gdpr_consent",
          "feedback_at"]

any_character = st.characters(exclude_categories=())  # lone surrogates too: what surrogateescape leaves of bad bytes
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(any_character, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner,
                                                                 max_size=6),
    max_leaves=12,
)
records_ish = st.fixed_dictionaries({}, optional={name: json_values for name in FIELDS})


def entries(*lines: str) -> list[tuple[Any, ...]]:
    return prepare(list(enumerate(lines, start=1)), VERSIONS, NOW)


def assert_each_line_is_answered(lines: list[str], prepared: list[tuple[Any, ...]]) -> None:
    """One entry per line that is not blank, in order: accepted, or ("error", line, text, field, reason)."""
    expected = [(number, text) for number, text in enumerate(lines, start=1) if text.strip()]
    assert [(entry[1], entry[2]) for entry in prepared] == expected
    for entry in prepared:
        assert entry[0] in ("prediction", "feedback", "error")
        if entry[0] == "error":
            assert len(entry) == 5 and isinstance(entry[3], str) and isinstance(entry[4], str) and entry[4]


@PROPERTIES
@given(st.lists(st.text(any_character, max_size=200), max_size=5))
def test_any_text_line_is_accepted_or_refused_never_raises(lines: list[str]) -> None:
    assert_each_line_is_answered(lines, entries(*lines))


@PROPERTIES
@given(st.lists(json_values | records_ish, min_size=1, max_size=5))
@example(["\ud800"])  # found by a run: a lone surrogate is refused as malformed JSON
def test_any_json_value_is_accepted_or_refused_never_raises(values: list[Any]) -> None:
    lines = [json.dumps(value) for value in values]  # NaN and Infinity are written as such, as Python's json does
    prepared = entries(*lines)
    assert_each_line_is_answered(lines, prepared)
    for value, entry in zip(values, prepared, strict=True):
        if not isinstance(value, dict):
            # a lone surrogate (json.dumps writes "\ud800") is not Unicode: the line is malformed JSON before it is
            # anything else
            expected = "malformed JSON" if _lone_surrogate(value) else "a record must be a JSON object"
            assert entry[0] == "error" and entry[4].startswith(expected), (value, entry)


def _lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in the value holds a UTF-16 surrogate, which no UTF-8 text can carry."""
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(item) for item in value)
    return False


# -- valid records ------------------------------------------------------------------------------------------------
texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=128)
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)),
                                                  timezone(-timedelta(hours=9, minutes=30))]))
finite = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def prediction_records(draw: st.DrawFn) -> dict[str, Any]:
    """A record the table of SPEC section 2 accepts: required fields, then any of the optional ones."""
    status = draw(st.sampled_from(["ok", "error"]))
    record: dict[str, Any] = {
        "prediction_id": draw(texts), "timestamp": draw(moments).isoformat(),
        "model_version": draw(st.sampled_from(["v1", "version-1"])),
        "predicted_label": draw(st.sampled_from(sorted(CLASSES))),
        "status": status,
        "inference_ms": draw(finite if status == "ok" else st.none() | finite),
    }
    optional = {
        "confidence": st.none() | st.floats(min_value=0, max_value=1), "image_type": st.text(min_size=1, max_size=64),
        "user_ref": st.none() | st.text(max_size=128), "user_feedback": st.sampled_from([0, 1, None]),
        "comment": st.none() | st.text(max_size=300), "corrected_label": st.none() | texts,
        "gdpr_consent": st.booleans(), "feedback_at": moments.map(datetime.isoformat),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        record[name] = draw(optional[name])
    return record


@PROPERTIES
@given(prediction_records())
def test_a_valid_prediction_record_round_trips(record: dict[str, Any]) -> None:
    [entry] = entries(json.dumps(record))
    assert entry[0] == "prediction", entry
    stored, answer = entry[4], entry[5]
    assert (stored.prediction_id, stored.version_id, stored.predicted_label) == (
        record["prediction_id"], "version-1", record["predicted_label"])
    assert stored.timestamp == datetime.fromisoformat(record["timestamp"])  # the same instant, whatever the offset
    assert (stored.status, stored.inference_ms, stored.confidence) == (
        record["status"], record["inference_ms"], record.get("confidence"))
    assert (stored.image_type, stored.user_ref) == (record.get("image_type", "unknown"), record.get("user_ref"))
    answered = record.get("user_feedback") is not None or record.get("comment") or record.get("corrected_label")
    assert (answer is not None) == bool(answered)
    if answer is not None:
        assert (answer.user_feedback, answer.comment, answer.corrected_label, answer.gdpr_consent) == (
            record.get("user_feedback"), record.get("comment"), record.get("corrected_label"),
            record.get("gdpr_consent", False))
        assert answer.feedback_at == datetime.fromisoformat(record.get("feedback_at", record["timestamp"]))


@PROPERTIES
@given(texts, st.sampled_from([0, 1, None]), st.none() | moments)
def test_a_valid_feedback_record_round_trips(prediction_id: str, value: int | None, moment: datetime | None) -> None:
    record = {"prediction_id": prediction_id, "user_feedback": value, "timestamp": moment and moment.isoformat()}
    [entry] = entries(json.dumps(record))
    assert entry[0] == "feedback", entry
    answer = entry[4]
    assert (answer.prediction_id, answer.user_feedback, answer.gdpr_consent) == (prediction_id, value, False)
    assert answer.feedback_at == (moment or NOW)  # no timestamp: given now


# -- what the table refuses ---------------------------------------------------------------------------------------
@PROPERTIES
@given(prediction_records(), st.sampled_from(["confidence", "inference_ms"]),
       st.sampled_from([math.nan, math.inf, -math.inf]))
def test_nan_and_infinity_are_refused_naming_the_field(record: dict[str, Any], name: str, value: float) -> None:
    [entry] = entries(json.dumps({**record, name: value}))  # json writes NaN, Infinity, -Infinity
    assert entry[0] == "error" and entry[3] == name, entry


@PROPERTIES
@given(prediction_records(), st.sampled_from([True, False, 1.0, 0.0, "1", "0"]))
def test_user_feedback_is_the_integer_0_or_1_not_a_boolean_a_float_or_a_string(record: dict[str, Any],
                                                                                value: Any) -> None:
    as_prediction = entries(json.dumps({**record, "user_feedback": value}))
    as_feedback = entries(json.dumps({"prediction_id": record["prediction_id"], "user_feedback": value}))
    for [entry] in (as_prediction, as_feedback):
        assert entry[0] == "error" and entry[3] == "user_feedback", entry


@PROPERTIES
@given(prediction_records(), st.integers(min_value=1, max_value=300))
def test_a_prediction_id_is_accepted_up_to_128_characters(record: dict[str, Any], length: int) -> None:
    [entry] = entries(json.dumps({**record, "prediction_id": "p" * length}))
    assert (entry[0] == "prediction") == (length <= 128), entry
    if length > 128:
        assert entry[3] == "prediction_id"


@PROPERTIES
@given(prediction_records(), st.text(min_size=1, max_size=20))
def test_a_predicted_label_outside_the_classes_is_refused(record: dict[str, Any], label: str) -> None:
    assume(label not in CLASSES)
    [entry] = entries(json.dumps({**record, "predicted_label": label}))
    assert entry[0] == "error" and entry[3] == "predicted_label", entry


@PROPERTIES
@given(prediction_records())
def test_a_timestamp_without_an_offset_is_refused(record: dict[str, Any]) -> None:
    naive = datetime.fromisoformat(record["timestamp"]).replace(tzinfo=None).isoformat()
    [entry] = entries(json.dumps({**record, "timestamp": naive}))
    assert entry[0] == "error" and entry[3] == "timestamp", entry
