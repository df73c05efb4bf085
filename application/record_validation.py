"""Validating one record line (SPEC section 2): the records' schema, the checks against the versions, the image's
checks, and the stored prediction or answer with the fingerprint of its content (what idempotency compares)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from application.record_decoding import decoded
from application.record_lines import MB, OverlongLine, undecodable
from application.records import StoredFeedback, StoredPrediction

MAX_IMAGE_BYTES = 5 * MB


Text128 = Annotated[str, Field(min_length=1, max_length=128)]
Label = Annotated[str, Field(min_length=1, max_length=256)]
Answer = Annotated[StrictInt, Field(ge=0, le=1)]  # 0 or 1: JSON true/false or 1.0 are refused, never read as 1


@with_config(ConfigDict(extra="forbid"))
class PredictionRecord(TypedDict):
    """A served prediction, optionally with its feedback inline (SPEC section 2)."""

    prediction_id: Text128
    timestamp: AwareDatetime
    model_version: Annotated[str, Field(min_length=1, max_length=64)]
    predicted_label: Label
    confidence: NotRequired[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None]
    inference_ms: NotRequired[Annotated[float, Field(ge=0, allow_inf_nan=False)] | None]
    status: NotRequired[Literal["ok", "error"]]
    image_type: NotRequired[Annotated[str, Field(min_length=1, max_length=64)]]
    image: NotRequired[str | None]
    user_ref: NotRequired[Annotated[str, Field(max_length=128)] | None]
    user_feedback: NotRequired[Answer | None]
    comment: NotRequired[Annotated[str, Field(max_length=2000)] | None]
    corrected_label: NotRequired[Label | None]
    gdpr_consent: NotRequired[StrictBool]
    feedback_at: NotRequired[AwareDatetime | None]


@with_config(ConfigDict(extra="forbid"))
class FeedbackRecord(TypedDict):
    """A user's answer to an earlier prediction."""

    prediction_id: Text128
    user_feedback: Answer | None
    comment: NotRequired[Annotated[str, Field(max_length=2000)] | None]
    corrected_label: NotRequired[Label | None]
    gdpr_consent: NotRequired[StrictBool]
    timestamp: NotRequired[AwareDatetime | None]


# Validation runs in pydantic-core: a TypedDict validates about three times faster than a model (bulk ingest).
PREDICTION = TypeAdapter(PredictionRecord)
FEEDBACK = TypeAdapter(FeedbackRecord)


ImageCheck = Callable[[bytes], str | None]
Prepared = tuple[Any, ...]
Versions = dict[str, tuple[str, frozenset[str]]]


def prepare(chunk: list[tuple[int, str]], versions: Versions, now: datetime,
            image_check: ImageCheck | None = None, *, fast: bool = True) -> list[Prepared]:
    """Parse and validate each line: ("error", line, text, field, reason), ("prediction", line, text, id,
    StoredPrediction, StoredFeedback | None, image bytes | None) or ("feedback", line, text, id, StoredFeedback).

    A line goes through msgspec first (application.record_decoding); one it cannot vouch for, and every line when
    `fast` is off, goes through pydantic, which gives the same outcome and names the field of a refusal."""
    image_check = image_check or image_problem
    prepared: list[Prepared] = []
    for line, text in chunk:
        if isinstance(text, OverlongLine):
            prepared.append(("error", line, text, "", OverlongLine.reason))
            continue
        if not text.strip():
            continue
        if undecodable(text):
            prepared.append(("error", line, text, "", "not valid UTF-8"))
            continue
        is_prediction = '"model_version"' in text
        record = decoded(text, is_prediction) if fast else None
        if record is not None:
            prepared.append(_prediction(line, text, record, versions, image_check) if is_prediction
                            else _feedback(line, text, record, now))
            continue
        try:
            record = (PREDICTION if is_prediction else FEEDBACK).validate_json(text)
        except ValidationError as error:
            if is_prediction and error.errors()[0]["loc"] == ("model_version",):  # the key was only in a comment
                is_prediction = False
                try:
                    record = FEEDBACK.validate_json(text)
                except ValidationError as second:
                    prepared.append(_invalid(line, text, second))
                    continue
            else:
                prepared.append(_invalid(line, text, error))
                continue
        prepared.append(_prediction(line, text, record, versions, image_check) if is_prediction
                        else _feedback(line, text, record, now))
    return prepared



def _invalid(line: int, text: str, error: ValidationError) -> Prepared:
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        return ("error", line, text, "", f"malformed JSON ({first['ctx'].get('error', 'invalid')})")
    if first["type"] in ("model_type", "dict_type"):
        return ("error", line, text, "", "a record must be a JSON object")
    return ("error", line, text, ".".join(str(part) for part in first["loc"]) or "record", first["msg"])


def _prediction(line: int, text: str, record: dict[str, Any], versions: Versions, image_check: ImageCheck) -> Prepared:
    pid, label = record["prediction_id"], record["predicted_label"]
    if record.get("status", "ok") == "ok" and record.get("inference_ms") is None:
        return ("error", line, text, "inference_ms", "inference_ms is required when status is ok")
    version = versions.get(record["model_version"])
    if version is None:
        return ("error", line, text, "model_version", f"unknown model version {record['model_version']!r}")
    version_id, classes = version
    if label not in classes:
        return ("error", line, text, "predicted_label", f"{label!r} is not a class of the version")
    image, image_sha = None, None
    if record.get("image") is not None:
        decoded = _decode_image(record["image"], image_check)
        if isinstance(decoded, str):
            return ("error", line, text, "image", decoded)
        image, image_sha = decoded, hashlib.sha256(decoded).hexdigest()
    moment = record["timestamp"]  # aware; any offset (stores convert to UTC microseconds)
    prediction = StoredPrediction(
        pid, version_id, moment, label, record.get("inference_ms"), record.get("status", "ok"),
        record.get("confidence"), record.get("image_type", "unknown"), image_sha, record.get("user_ref"),
        prediction_fingerprint(record, moment, image_sha, version_id),
    )
    answer = None
    if record.get("user_feedback") is not None or record.get("comment") or record.get("corrected_label"):
        answer = _stored_feedback(pid, record.get("user_feedback"), record.get("feedback_at") or moment,
                                  record.get("comment"), record.get("corrected_label"),
                                  record.get("gdpr_consent", False))
    return ("prediction", line, text, pid, prediction, answer, image)


def _feedback(line: int, text: str, record: dict[str, Any], now: datetime) -> Prepared:
    pid = record["prediction_id"]
    answer = _stored_feedback(pid, record["user_feedback"], record.get("timestamp") or now,  # no timestamp: now
                              record.get("comment"), record.get("corrected_label"), record.get("gdpr_consent", False),
                              stamped=record.get("timestamp") is not None)
    return ("feedback", line, text, pid, answer, None, None)



def _decode_image(text: str, image_check: ImageCheck) -> bytes | str:
    if len(text) > math.ceil(MAX_IMAGE_BYTES / 3) * 4 + 4:
        return "image is larger than 5 MB"
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "image is not valid base64"
    return image_check(data) or data


def image_problem(data: bytes) -> str | None:
    """Why these bytes cannot be a record's image (too large, not PNG or JPEG), or None."""
    if len(data) > MAX_IMAGE_BYTES:
        return "image is larger than 5 MB"
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8")):
        return "image is neither PNG nor JPEG"
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """The instant in UTC microseconds: the same instant written with another offset is the same content."""
    return (moment - _EPOCH) // _MICRO


def prediction_fingerprint(r: dict[str, Any], moment: datetime, image_sha: str | None, version_id: str) -> str:
    """The record's content as validated (so formatting does not matter), its image by hash, its version by id."""
    given = r.get("feedback_at")
    text = (
        f"{r['prediction_id']}\x1f{_micros(moment)}\x1f{version_id}\x1f{r['predicted_label']}"
        f"\x1f{r.get('confidence')!r}\x1f{r.get('inference_ms')!r}\x1f{r.get('status', 'ok')}"
        f"\x1f{r.get('image_type', 'unknown')}\x1f{image_sha}\x1f{r.get('user_ref')!r}\x1f{r.get('user_feedback')!r}"
        f"\x1f{r.get('comment')!r}\x1f{r.get('corrected_label')!r}\x1f{r.get('gdpr_consent', False)}"
        f"\x1f{_micros(given) if given else None}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_feedback(prediction_id: str, value: int | None, given: Any, comment: str | None, label: str | None,
                     consent: bool, *, stamped: bool = True) -> StoredFeedback:
    """`stamped`: the record carried its own time. One without is given the time of its arrival, which is not
    part of its identity: the same record sent again later (a client's retry) is a duplicate, not a new answer."""
    moment = _micros(given) if stamped else "arrival"
    content = f"{prediction_id}\x1f{value}\x1f{moment}\x1f{comment!r}\x1f{label!r}\x1f{consent}"
    return StoredFeedback(prediction_id, value, given, comment, label, consent,
                          hashlib.sha256(content.encode()).hexdigest())
