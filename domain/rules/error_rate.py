"""Rule 4.1.3: error rate above 5% over a sliding 7-day window."""

from __future__ import annotations

from fractions import Fraction

from domain.rules.verdicts import TriggerVerdict, exact, rate

ERROR_RATE = "error_rate"


def evaluate_error_rate(errors: int, predictions: int, *, threshold: float, minimum: int) -> TriggerVerdict:
    """Breach iff errors / predictions > threshold in the window; not evaluated under `minimum` predictions."""
    if predictions < minimum or predictions == 0:
        return TriggerVerdict(ERROR_RATE, "not_evaluated", threshold, None, predictions)
    breached = Fraction(errors, predictions) > exact(threshold)
    return TriggerVerdict(
        ERROR_RATE,
        "breached" if breached else "ok",
        threshold,
        rate(errors, predictions),
        predictions,
        evidence={"errors": errors, "predictions": predictions},
    )
