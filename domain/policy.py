"""The procedure's numbers (SPEC section 4), with their defaults; settings override any of them."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

DEFAULT_NEGATIVE_TERMS = (
    "flou", "floue", "mauvais", "mauvaise", "incorrect", "incorrecte", "faux", "fausse", "blurry", "wrong", "bad",
)


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TriggerPolicy(_Policy):
    """Rule 4.1: the five triggers and the reinforced windows."""

    satisfaction_min: float = Field(0.70, ge=0, le=1)
    satisfaction_window: PositiveInt = 100
    latency_factor: PositiveFloat = 1.5
    latency_window: PositiveInt = 50
    baseline_sample: PositiveInt = 200
    error_rate_max: float = Field(0.05, ge=0, le=1)
    error_rate_days: PositiveFloat = 7
    error_rate_min_predictions: PositiveInt = 100
    negative_terms: tuple[str, ...] = DEFAULT_NEGATIVE_TERMS
    negative_comments_min: PositiveInt = 20
    negative_comments_days: PositiveFloat = 7
    image_type_window: PositiveInt = 100
    image_type_min: PositiveInt = 30
    reinforced_days: float = Field(7, ge=0)
    reinforced_satisfaction_window: PositiveInt = 50
    reinforced_image_type_window: PositiveInt = 50
    reinforced_image_type_min: PositiveInt = 15
    reinforced_latency_window: PositiveInt = 25

    @model_validator(mode="after")
    def _minimums_fit_windows(self) -> TriggerPolicy:
        if self.image_type_min > self.image_type_window:
            raise ValueError("image_type_min must not exceed image_type_window")
        if self.reinforced_image_type_min > self.reinforced_image_type_window:
            raise ValueError("reinforced_image_type_min must not exceed reinforced_image_type_window")
        return self


class CurationPolicy(_Policy):
    """Rule 4.3: selection, critical items and the split."""

    critical_confidence: float = Field(0.95, ge=0, le=1)
    rare_class_min: PositiveInt = 5
    min_training_items: PositiveInt = 20
    validation_fraction: float = Field(0.2, gt=0, lt=1)


class ReviewPolicy(_Policy):
    """Rule 4.3: human review of critical items."""

    required: bool = True


class CampaignPolicy(_Policy):
    """Rule 4.2: after a campaign that produced no new version, how long the breaches still open wait for the next."""

    cooldown: timedelta = Field(timedelta(hours=24), ge=timedelta(0))


class StrategyPolicy(_Policy):
    """Rule 4.4: when to retrain from scratch rather than fine-tune."""

    major_drift_below: float = Field(0.50, ge=0, le=1)
    curated_fraction_for_full: float = Field(0.20, gt=0)
    max_consecutive_fine_tunes: PositiveInt = 3


class ValidationMinItems(_Policy):
    """Rule 4.6: the items a gate needs to be measured (fewer, and it is not measurable: the candidate is rejected)."""

    test: PositiveInt = 100  # the original test set, for the no-regression gate
    validation: PositiveInt = 20  # the validation set (curated + original), for the validation-accuracy gate


class ValidationPolicy(_Policy):
    """Rule 4.6: the three gates a candidate must pass against its parent, and one per image type."""

    min_items: ValidationMinItems = ValidationMinItems()
    max_test_regression: float = Field(0.01, ge=0, le=1)
    latency_factor: PositiveFloat = 1.5
    latency_calls: PositiveInt = 200
    # per image type of the validation set: no type with at least segment_min_items items may lose more than this
    max_segment_regression: float = Field(0.02, ge=0, le=1)
    segment_min_items: PositiveInt = 50
    # gate 1 also needs the candidate better with confidence: the lower bound of the 95% interval of the paired
    # accuracy difference above 0 (off by default: the procedure's literal rule, candidate > parent, stands)
    require_significance: bool = False


class Phase(_Policy):
    percent: float = Field(gt=0, le=100)
    hours: float = Field(ge=0)


class RolloutPolicy(_Policy):
    """Rule 4.7: the plan and the health checks of each phase."""

    plan: tuple[Phase, ...] = (Phase(percent=10, hours=24), Phase(percent=50, hours=48))
    automatic: bool = True
    satisfaction_min: float = Field(0.70, ge=0, le=1)
    satisfaction_min_feedback: PositiveInt = 30
    error_rate_max: float = Field(0.05, ge=0, le=1)
    error_rate_min_predictions: PositiveInt = 50
    latency_factor: PositiveFloat = 1.5
    latency_min_predictions: PositiveInt = 50
    pause_after_factor: PositiveFloat = 2
    # the always-valid comparison with the stable version: family-wise alpha over a phase's checks, and how much
    # worse (in satisfaction or error rate) the candidate may be before that counts
    alpha: float = Field(0.05, gt=0, lt=1)
    margin: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _plan_increases(self) -> RolloutPolicy:
        percents = [phase.percent for phase in self.plan]
        if not percents or percents != sorted(set(percents)) or percents[-1] >= 100:
            raise ValueError("plan must be phases of strictly increasing percent below 100 (100% follows the last)")
        return self
