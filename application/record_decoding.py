"""The fast path of record validation (SPEC section 2): msgspec decodes and checks a line at C speed.

It accepts only what the pydantic path (application.record_validation.PREDICTION and FEEDBACK) accepts, with the
same values, so it never changes an outcome: a line it refuses goes to the pydantic path, which accepts it or names
the field and the reason. Times are decoded as text of the plain RFC 3339 form and parsed by
`datetime.fromisoformat`; anything else (another form, an impossible date) is the pydantic path's to judge.
tests/unit/test_record_decoding.py checks the two paths agree on generated lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

Moment = Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")]
Text128 = Annotated[str, Meta(min_length=1, max_length=128)]
Label = Annotated[str, Meta(min_length=1, max_length=256)]
Comment = Annotated[str, Meta(max_length=2000)]
Answer = Annotated[int, Meta(ge=0, le=1)]  # msgspec's int is strict: true, false and 1.0 are refused
NonNegative = Annotated[float, Meta(ge=0)]  # msgspec refuses NaN, Infinity and numbers out of a float's range
Probability = Annotated[float, Meta(ge=0, le=1)]


class _Prediction(Struct, forbid_unknown_fields=True, gc=False):
    prediction_id: Text128
    timestamp: Moment
    model_version: Annotated[str, Meta(min_length=1, max_length=64)]
    predicted_label: Label
    confidence: Probability | None = None
    inference_ms: NonNegative | None = None
    status: Literal["ok", "error"] = "ok"
    image_type: Annotated[str, Meta(min_length=1, max_length=64)] = "unknown"
    image: str | None = None
    user_ref: Annotated[str, Meta(max_length=128)] | None = None
    user_feedback: Answer | None = None
    comment: Comment | None = None
    corrected_label: Label | None = None
    gdpr_consent: bool = False
    feedback_at: Moment | None = None


class _Feedback(Struct, forbid_unknown_fields=True, gc=False):
    prediction_id: Text128
    user_feedback: Answer | None
    comment: Comment | None = None
    corrected_label: Label | None = None
    gdpr_consent: bool = False
    timestamp: Moment | None = None


_PREDICTION = msgspec.json.Decoder(_Prediction)
_FEEDBACK = msgspec.json.Decoder(_Feedback)
_TIMES = {True: ("timestamp", "feedback_at"), False: ("timestamp",)}


def decoded(text: str, is_prediction: bool) -> dict[str, Any] | None:
    """The record as the pydantic path would give it (absent optional fields as their defaults, which read the
    same), or None when this path cannot vouch for the line."""
    try:
        record = msgspec.structs.asdict((_PREDICTION if is_prediction else _FEEDBACK).decode(text))
        for name in _TIMES[is_prediction]:
            if record[name] is not None:
                record[name] = datetime.fromisoformat(record[name])
    except (msgspec.DecodeError, ValueError):  # msgspec.ValidationError is a DecodeError
        return None
    return record
