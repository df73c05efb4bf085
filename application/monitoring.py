"""Monitoring (rule 4.1): evaluate the five triggers of each serving version and record breach episodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from application.campaigns import Campaigns
from application.ledger import Ledger
from application.ports import Clock, TrafficStatistics
from application.read_models import event_identity
from domain.model_version import SERVING_STATES, ModelVersion
from domain.policy import TriggerPolicy
from domain.retrain_campaign import RetrainCampaign
from domain.rules.episodes import episode_transitions
from domain.rules.error_rate import evaluate_error_rate
from domain.rules.latency import evaluate_latency, measure_baseline
from domain.rules.negative_comments import negative_comments_verdict
from domain.rules.satisfaction import IMAGE_TYPE, evaluate_image_types, evaluate_satisfaction
from domain.rules.verdicts import TriggerVerdict
from domain.rules.windows import is_reinforced, monitoring_windows

log = structlog.get_logger()
ACTOR = "system:monitor"
UNKNOWN_IMAGE_TYPE = "unknown"


@dataclass(frozen=True)
class VersionReport:
    version: str
    verdicts: list[TriggerVerdict]
    reinforced: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "reinforced": self.reinforced,
            "rules": [
                {
                    "rule": v.rule, "segment": v.segment, "state": v.state, "observed": v.observed,
                    "threshold": v.threshold, "window": v.window, "evidence": v.evidence,
                }
                for v in self.verdicts
            ],
        }


class Monitoring:
    """Evaluates every trigger as of the clock's now; a breach on production opens or joins a campaign (4.2)."""

    def __init__(
        self, *, ledger: Ledger, feedback: TrafficStatistics, clock: Clock, policy: TriggerPolicy, campaigns: Campaigns
    ) -> None:
        self.ledger = ledger
        self.feedback = feedback
        self.clock = clock
        self.policy = policy
        self.campaigns = campaigns

    def evaluate(self) -> list[VersionReport]:
        """Evaluate every serving version now, record what changed, and return each rule's state."""
        now = self.clock.now()
        reports = []
        for version in self.ledger.versions():
            if version.state in SERVING_STATES:
                reports.append(self.ledger.retrying(lambda v=version.label: self._evaluate_version(v, now)))
        return reports

    def _evaluate_version(self, label: str, now: datetime) -> VersionReport:
        """Record what changed, then log it: logged only once saved, so that a process that loses the race to
        another (and retries, to find nothing left to record) does not claim what the other one recorded."""
        version = self.ledger.version(label)
        said: list[tuple[str, dict[str, Any]]] = []
        self._measure_baseline(version, now, said)
        reinforced = is_reinforced(now, version.reinforced_since, self.policy.reinforced_days)
        verdicts = self.verdicts(version, now, reinforced)
        transitions = episode_transitions(_open_keys(version), verdicts)
        breaches = []
        for kind, verdict in transitions:
            if kind == "breached":
                bounds = self._window_bounds(version, verdict, now)
                version.record_breach(
                    rule=verdict.rule, segment=verdict.segment, observed=verdict.observed,
                    threshold=verdict.threshold, window_size=verdict.window, window_start=bounds[0],
                    window_end=bounds[1], evidence=verdict.evidence, actor=ACTOR, timestamp=now,
                )
                breaches.append({**_breach_summary(verdict, now),
                                 "event_id": event_identity(str(version.id), version.version)})
                said.append(("threshold_breached", {"version": label, "rule": verdict.rule, "segment": verdict.segment,
                                                    "observed": verdict.observed, "threshold": verdict.threshold}))
            else:
                version.record_recovery(
                    rule=verdict.rule, segment=verdict.segment, observed=verdict.observed,
                    threshold=verdict.threshold, window_size=verdict.window, actor=ACTOR, timestamp=now,
                )
                said.append(("threshold_recovered", {"version": label, "rule": verdict.rule,
                                                     "segment": verdict.segment}))
        if breaches:
            campaign = self.campaigns.for_breaches(version, breaches, actor=ACTOR, timestamp=now)
        else:  # the breaches still open after a campaign that changed nothing, once the cooldown has passed
            campaign = self.campaigns.after_cooldown(version, actor=ACTOR, timestamp=now)
        if campaign is not None and any(isinstance(e, RetrainCampaign.Opened) for e in campaign.pending_events):
            said.append(("campaign_opened", {"campaign": campaign.number, "version": label, "reason": campaign.reason}))
        self.ledger.save(version, *([campaign] if campaign else []))
        for event, fields in said:
            log.info(event, **fields)
        return VersionReport(label, verdicts, reinforced)

    def _measure_baseline(self, version: ModelVersion, now: datetime, said: list[tuple[str, dict[str, Any]]]) -> None:
        if version.baseline_ms is not None:
            return
        sample = self.policy.baseline_sample
        baseline = measure_baseline(
            self.feedback.ok_latencies(str(version.id), as_of=now, limit=sample, first=True),
            sample=sample,
        )
        if baseline is not None:
            version.measure_baseline(baseline_ms=baseline, sample_size=sample, actor=ACTOR, timestamp=now)
            said.append(("baseline_measured", {"version": version.label, "baseline_ms": baseline}))

    def verdicts(self, version: ModelVersion, now: datetime, reinforced: bool) -> list[TriggerVerdict]:
        """The five rules over the version's windows as of now."""
        policy, windows, vid = self.policy, monitoring_windows(self.policy, reinforced=reinforced), str(version.id)
        rated = self.feedback.rated_outcomes(vid, as_of=now, limit=windows.satisfaction)
        latencies = self.feedback.ok_latencies(vid, as_of=now, limit=windows.latency)
        errors, total = self.feedback.error_counts(vid, since=now - timedelta(days=policy.error_rate_days), until=now)
        matching, per_term, negative = self.feedback.negative_comment_counts(
            vid, since=now - timedelta(days=policy.negative_comments_days), until=now, terms=policy.negative_terms
        )
        by_type = self.feedback.rated_outcomes_by_image_type(vid, as_of=now, limit=windows.image_type)
        by_type.pop(UNKNOWN_IMAGE_TYPE, None)  # "unknown" is the absence of a segment, not a segment
        return [
            evaluate_satisfaction(
                [int(o.satisfied) for o in rated], window=windows.satisfaction, minimum=windows.satisfaction_min,
                threshold=policy.satisfaction_min,
            ),
            evaluate_latency(
                latencies, baseline_ms=version.baseline_ms, window=windows.latency, factor=policy.latency_factor
            ),
            evaluate_error_rate(
                errors, total, threshold=policy.error_rate_max, minimum=policy.error_rate_min_predictions
            ),
            negative_comments_verdict(matching, per_term, negative, minimum=policy.negative_comments_min),
            *evaluate_image_types(
                {t: [int(o.satisfied) for o in rows] for t, rows in by_type.items()},
                window=windows.image_type, minimum=windows.image_type_min, threshold=policy.satisfaction_min,
            ),
        ]

    def _window_bounds(
        self, version: ModelVersion, verdict: TriggerVerdict, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        if verdict.rule in ("error_rate",):
            return now - timedelta(days=self.policy.error_rate_days), now
        if verdict.rule == "negative_comments":
            return now - timedelta(days=self.policy.negative_comments_days), now
        if verdict.rule in ("satisfaction", IMAGE_TYPE):
            rows = self.feedback.rated_outcomes(
                str(version.id), as_of=now, limit=verdict.window, image_type=verdict.segment
            )
            return (rows[0].timestamp, rows[-1].timestamp) if rows else (None, now)
        return None, now


def _open_keys(version: ModelVersion) -> set[tuple[str, str | None]]:
    return {(b["rule"], b["segment"]) for b in version.open_breaches.values()}


def _breach_summary(verdict: TriggerVerdict, now: datetime) -> dict[str, Any]:
    summary = {k: v for k, v in asdict(verdict).items() if k in ("rule", "segment", "observed", "threshold", "window")}
    return {**summary, "at": now.isoformat()}
