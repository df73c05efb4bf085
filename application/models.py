"""The model registry: register versions, list them, and re-hash every artifact (rule 4.8)."""

from __future__ import annotations

import hashlib
from typing import Any

import structlog

from application.ledger import Ledger
from application.ports import BlobStore, Clock, ModelRef, Predictor
from domain.errors import IllegalTransition, InvalidInput
from domain.model_version import ModelVersion

log = structlog.get_logger()


class ModelRegistry:
    """Versions and their artifacts; nothing is ever deleted."""

    def __init__(self, *, ledger: Ledger, blobs: BlobStore, predictor: Predictor, clock: Clock) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self.predictor = predictor
        self.clock = clock

    def register(
        self, *, weights: bytes, architecture: str, classes: list[str], input_spec: dict[str, Any],
        baseline_ms: float | None, production: bool, actor: str, training: dict[str, Any] | None = None,
        architecture_options: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Check the weights against the architecture, store them by sha256, record Registered (and Promoted)."""
        check_classes(classes)
        check_baseline(baseline_ms)
        try:
            self.predictor.check_weights(weights, architecture, input_spec, classes, architecture_options)
        except (ValueError, KeyError, RuntimeError) as error:
            raise InvalidInput(str(error)) from None
        sha = self.blobs.put(weights)
        training = training or {}

        def command() -> ModelVersion:
            if production and self.ledger.production() is not None:
                raise IllegalTransition("a version is already in production: roll a new one out instead")
            now = self.clock.now()
            version = ModelVersion(
                label=self.ledger.next_version_label(), parent_id=training.get("parent_id"), architecture=architecture,
                input_spec=input_spec, classes=classes, artifact_sha256=sha, dataset_id=training.get("dataset_id"),
                strategy=training.get("strategy"), training_config=training.get("config", {}),
                seed=training.get("seed"), training_metrics=training.get("metrics", {}), baseline_ms=baseline_ms,
                campaign_id=None, actor=actor, timestamp=now, architecture_options=architecture_options,
            )
            if production:
                version.promote(reason="registered as production", actor=actor, timestamp=now, initial=True)
            self.ledger.save(version)
            return version

        version = self.ledger.retrying(command)
        log.info("model_registered", version=version.label, architecture=architecture, sha256=sha[:12],
                 production=production)
        return version

    def verify(self) -> list[dict[str, Any]]:
        """Re-hash every version's artifact: ok, missing or corrupted."""
        results = []
        for version in self.ledger.versions():
            try:
                data = self.blobs.get(version.artifact_sha256)
                state = "ok" if hashlib.sha256(data).hexdigest() == version.artifact_sha256 else "corrupted"
            except FileNotFoundError:
                state = "missing"
            results.append({"version": version.label, "artifact_sha256": version.artifact_sha256, "state": state})
        return results


def lineage_original(ledger: Ledger, version: ModelVersion) -> tuple[ModelVersion, str, dict[str, int]] | None:
    """The lineage's original dataset: the nearest of this version and its ancestors that has one of its own
    (trained on by `init`, brought at registration, or attached later with `retrain model datasets`), with the
    version that holds it and its split sizes."""
    current: ModelVersion | None = version
    while current is not None:
        if (original := current.original_dataset()) is not None:
            return current, *original
        current = ledger.version(current.parent_id) if current.parent_id else None
    return None


def original_dataset_id(ledger: Ledger, version: ModelVersion) -> str | None:
    """The original dataset of the lineage (rehearsal, original validation and test sets), if it is known."""
    found = lineage_original(ledger, version)
    return found[1] if found else None


def model_ref(version: ModelVersion) -> ModelRef:
    """What the trainer, the evaluator and the predictor are told of a version."""
    return ModelRef(str(version.id), version.label, version.architecture, version.input_spec, version.classes,
                    version.artifact_sha256, dict(version.architecture_options))


def check_baseline(baseline_ms: float | None) -> None:
    if baseline_ms is not None and baseline_ms <= 0:
        raise InvalidInput("the latency baseline must be a positive number of milliseconds")


def check_classes(classes: list[str]) -> None:
    if len(classes) < 2:
        raise InvalidInput("a classifier needs at least two classes")
    if len(set(classes)) != len(classes):
        raise InvalidInput("class names must be unique")
    if any(not c.strip() or len(c) > 64 for c in classes):
        raise InvalidInput("class names must be 1 to 64 characters")
