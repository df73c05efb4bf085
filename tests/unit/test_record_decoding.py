"""The fast path of record validation (msgspec) never changes an outcome: on any line, `prepare` answers exactly
as the pydantic path alone does, the same records accepted with the same values and fingerprints, the same lines
refused with the same field and reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from application.record_decoding import decoded
from application.record_validation import prepare

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CLASSES = frozenset({"0", "1", "cat"})
VERSIONS = {"v1": ("version-1", CLASSES), "version-1": ("version-1", CLASSES)}
PROPERTIES = settings(deadline=None, database=None, max_examples=400)
VALID = {"prediction_id": "p1", "timestamp": "2026-01-01T10:00:00+00:00", "model_version": "v1",
         "predicted_label": "1", "inference_ms": 4.5}

# Values chosen around what the two paths might read differently: numbers as integers, floats, huge or out of
# range; booleans for numbers; times in other forms, impossible dates, offsets out of range; strings at their
# length limits, with escapes, surrogates and characters outside the basic plane.
times = st.sampled_from([
    "2026-01-01T10:00:00Z", "2026-01-01T10:00:00+02:00", "2026-01-01T10:00:00.5-09:30", "2026-01-01T10:00:00.123456Z",
    "2026-01-01T10:00:00.1234567Z", "2026-01-01 10:00:00Z", "2026-01-01t10:00:00z", "2026-01-01T10:00:00",
    "2026-02-30T10:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:59:60Z", "2026-01-01T10:00:00+24:00",
    "2026-01-01T10:00:00+23:59", "2026-01-01T10:00:00-00:00", "2026-01-01", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1700000000", "",
]) | st.integers(-10**10, 10**10)
numbers = st.one_of(
    st.sampled_from([0, 1, 2, -1, 0.0, 1.0, -0.0, 0.5, 1e308, 1e400, -1e400, 10**30, 10**400, True, False, "1", "0.5"]),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20),
)
texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=140), st.text(min_size=125, max_size=131),
    st.sampled_from(["", "a" * 64, "a" * 65, "a" * 128, "a" * 129, "\U0001f600" * 128, "\U0001f600" * 129,
                     "c" * 2000, "c" * 2001, "cat", "1"]),
)
values = st.one_of(st.none(), numbers, texts, times, st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
FIELDS = {
    "prediction_id": texts, "timestamp": times, "model_version": st.sampled_from(["v1", "version-1", "v9", ""]),
    "predicted_label": st.sampled_from(["0", "1", "cat", "dog", ""]), "confidence": numbers, "inference_ms": numbers,
    "status": st.sampled_from(["ok", "error", "OK", None]), "image_type": texts, "image": st.none() | texts,
    "user_ref": st.none() | texts, "user_feedback": numbers | st.none(), "comment": st.none() | texts,
    "corrected_label": st.none() | texts, "gdpr_consent": st.sampled_from([True, False, 0, 1, None, "true"]),
    "feedback_at": st.none() | times, "colour": texts,
}


@st.composite
def lines(draw: st.DrawFn) -> str:
    """A prediction or feedback record close to valid: some fields dropped, some given odd values."""
    if draw(st.booleans()):
        record: dict[str, Any] = dict(VALID)
    else:
        record = {"prediction_id": "p1", "user_feedback": draw(st.sampled_from([0, 1, None]))}
    for name in draw(st.lists(st.sampled_from(sorted(record)), max_size=2, unique=True)):
        del record[name]
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4, unique=True)):
        record[name] = draw(FIELDS[name] if draw(st.booleans()) else values)
    line = json.dumps(record, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # a key twice: the last one counts, on both paths
        line = line[:-1] + (", " if record else "") + '"prediction_id": "again"}'
    if draw(st.integers(0, 4)) == 0:  # number literals json.dumps never writes
        name = draw(st.sampled_from(["confidence", "inference_ms", "user_feedback"]))
        literal = draw(st.sampled_from(["1e400", "-1e400", "1E+2", "1e-400", "0.1e1", "1.0", "1e0", "-0", "01", "1."]))
        line = line[:-1] + (", " if record else "") + f'"{name}": {literal}}}'
    return line


def both_paths(line: str) -> tuple[list[Any], list[Any]]:
    chunk = [(1, line)]
    return prepare(chunk, VERSIONS, NOW), prepare(chunk, VERSIONS, NOW, fast=False)


@PROPERTIES
@given(lines())
def test_the_fast_path_answers_every_record_as_the_pydantic_path_does(line: str) -> None:
    fast, reference = both_paths(line)
    assert fast == reference
    for ours, theirs in zip(fast, reference, strict=True):  # equal times are equal instants; the offsets match too
        if ours[0] == "prediction":
            assert ours[4].timestamp.utcoffset() == theirs[4].timestamp.utcoffset()


@PROPERTIES
@given(st.text(max_size=60))
def test_the_fast_path_vouches_for_no_line_that_is_not_a_record(line: str) -> None:
    fast, reference = both_paths(line)
    assert fast == reference


def test_the_fast_path_takes_the_common_records_and_leaves_the_rest() -> None:
    assert decoded(json.dumps(VALID), is_prediction=True) is not None
    assert decoded(json.dumps({"prediction_id": "p1", "user_feedback": 1}), is_prediction=False) is not None
    for odd in ({**VALID, "timestamp": "2026-01-01 10:00:00Z"}, {**VALID, "confidence": float("nan")},
                {**VALID, "user_feedback": True}, {**VALID, "colour": "red"}):
        assert decoded(json.dumps(odd), is_prediction=True) is None
