"""Prometheus metrics (prometheus-client): traffic and feedback per version, satisfaction per version and image
type, breached rules, rollout percent, ingest rejects, inference latency."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from application.ingestion_batch import IngestReport
from application.ledger import Ledger
from application.monitoring import VersionReport
from application.serving import Router, Served

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class _RolloutCollector(Collector):
    """The rollout's percent, read from the cached routing table at scrape time."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def collect(self) -> Iterator[GaugeMetricFamily]:
        table = self.router.table()
        family = GaugeMetricFamily("retrain_rollout_percent", "Percent of traffic the rollout's candidate serves",
                                   labels=["candidate", "stable"])
        if table.candidate is not None and table.stable is not None:
            family.add_metric([table.candidate.label, table.stable.label], table.percent)
        yield family


class Metrics:
    """The server's metrics, in a registry of their own (one per server)."""

    def __init__(self, *, ledger: Ledger, router: Router) -> None:
        self.ledger = ledger
        self.registry = CollectorRegistry()
        self._labels: dict[str, str] = {}
        self.predictions = Counter("retrain_predictions", "Predictions logged, per version and source",
                                   ["version", "source"], registry=self.registry)
        self.feedback = Counter("retrain_feedback", "Feedback records stored, per version", ["version"],
                                registry=self.registry)
        self.rejects = Counter("retrain_ingest_rejects", "Records refused at ingestion", registry=self.registry)
        self.latency = Histogram("retrain_inference_seconds", "Inference latency of served predictions",
                                 ["version"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.satisfaction = Gauge("retrain_satisfaction", "Satisfaction over the rule's window, per version and "
                                  "image type (`all`: the satisfaction rule)", ["version", "image_type"],
                                  registry=self.registry)
        self.breached = Gauge("retrain_rule_breached", "1 while a trigger is breached, per version, rule and "
                              "segment", ["version", "rule", "segment"], registry=self.registry)
        self.phase_check = Gauge(
            "retrain_rollout_check", "The active rollout's phase checks, candidate against stable: each arm's figure, "
            "the difference and its always-valid bounds (latency: log of the ratio), and 1 if the check failed",
            ["check", "figure"], registry=self.registry)
        self.registry.register(_RolloutCollector(router))

    def served(self, predictions: Sequence[Served]) -> None:
        for served in predictions:
            self.predictions.labels(served.model_version, "predict").inc()
            self.latency.labels(served.model_version).observe(served.inference_ms / 1000)

    def ingested(self, report: IngestReport) -> None:
        for version_id, count in report.predictions_by_version.items():
            self.predictions.labels(self._label(version_id), "ingest").inc(count)
        for version_id, count in report.feedback_by_version.items():
            self.feedback.labels(self._label(version_id)).inc(count)

    def rejected(self, count: int) -> None:
        if count:
            self.rejects.inc(count)

    def monitored(self, reports: Sequence[VersionReport]) -> None:
        for report in reports:
            for verdict in report.verdicts:
                segment = verdict.segment or ""
                self.breached.labels(report.version, verdict.rule, segment).set(verdict.state == "breached")
                if verdict.observed is None:
                    continue
                if verdict.rule == "satisfaction":
                    self.satisfaction.labels(report.version, "all").set(verdict.observed)
                elif verdict.rule == "image_type":
                    self.satisfaction.labels(report.version, segment).set(verdict.observed)

    def rollout_checked(self, active: Any) -> None:
        """The evidence of the active rollout's phase, after each full pass of the loop (none: cleared)."""
        self.phase_check.clear()
        if active is None:
            return
        _, health = active
        for name, check in health.checks.items():
            self.phase_check.labels(name, "failed").set(check["state"] == "failed")
            figures = {"candidate": check["observed"], "stable": check.get("stable"),
                       "difference": check.get("difference"), "low": check.get("low"), "high": check.get("high")}
            for figure, value in figures.items():
                if value is not None:
                    self.phase_check.labels(name, figure).set(value)

    def _label(self, version_id: str) -> str:
        if version_id not in self._labels:
            self._labels = {d["id"]: d["label"] for d in self.ledger.read.versions()}
        return self._labels.get(version_id, version_id)
