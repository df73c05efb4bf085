"""A team's own model and datasets brought in: `retrain model register` and `retrain model datasets`.

The weights come as the team saved them, the architecture may be the team's own code, and the input spec is settled
from what is known, never defaulted in silence. With the team's datasets, the model is measured at once, its
accuracy checked against chance, and the datasets become the lineage's original dataset (rehearsal, the original
validation set and the no-regression gate)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from application.ledger import Ledger
from application.models import ModelRegistry, check_baseline, check_classes
from application.ports import (
    BlobStore,
    Clock,
    DatasetCatalog,
    IntakeReport,
    IntakeRequest,
    ModelIntake,
    OriginalDataset,
)
from domain.errors import IllegalTransition, InvalidInput
from domain.model_version import ModelVersion
from domain.rules.sanity import below_chance

log = structlog.get_logger()
T = TypeVar("T")
SPLIT_OPTIONS = {"train": "--train", "validation": "--val", "test": "--test"}


@dataclass(frozen=True)
class TeamModel:
    """What a team says of its model: the weights file's bytes, the architecture and its options, the classes, the
    input spec as far as it is given, and its datasets (split -> directory or manifest)."""

    weights: bytes
    architecture: str
    classes: list[str]
    architecture_options: dict[str, Any] = field(default_factory=dict)
    input_spec: dict[str, Any] | None = None
    datasets: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Intake:
    """The version as recorded, what was done to bring it in, and its accuracy per split."""

    version: ModelVersion
    notes: list[str]
    measured: dict[str, dict[str, Any]]
    warning: str | None = None


class TeamModels:
    """Registers a team's model, and attaches original datasets to a version later."""

    def __init__(self, *, ledger: Ledger, registry: ModelRegistry, intake: ModelIntake, catalog: DatasetCatalog,
                 blobs: BlobStore, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock
        self.registry = registry
        self.intake = intake
        self.catalog = catalog
        self.blobs = blobs

    def register(self, model: TeamModel, *, baseline_ms: float | None, production: bool, force: bool,
                 allow_duplicate: bool, actor: str) -> Intake:
        """Refused, storing no version, when anything does not fit; the weights are those of an existing version
        (unless `allow_duplicate`); or the test accuracy is below 1.5 x chance for a production version (unless
        `force`)."""
        check_classes(model.classes)
        check_baseline(baseline_ms)
        # the weights first: copying datasets can take minutes
        _as_invalid_input(self.intake.check_weights, model.weights, model.architecture, model.architecture_options,
                          model.classes)
        dataset = self._store(model.datasets, model.classes)
        report = _as_invalid_input(self.intake.admit, IntakeRequest(
            model.weights, model.architecture, model.architecture_options, model.classes, model.input_spec, dataset))
        if not allow_duplicate:
            self._refuse_duplicate(hashlib.sha256(report.artifact).hexdigest())
        warning = self._sanity(report.measured, len(model.classes))
        if warning and production and not force:
            raise IllegalTransition(f"not made production: {warning}; pass --force to make it production anyway")
        version = self.registry.register(
            weights=report.artifact, architecture=model.architecture, classes=model.classes,
            input_spec=report.input_spec, baseline_ms=baseline_ms, production=production, actor=actor,
            architecture_options=model.architecture_options,
            training=_registered_training(dataset, report, model.datasets),
        )
        log.info("team_model_registered", version=version.label, architecture=model.architecture,
                 datasets=dataset.sizes if dataset else None, notes=report.notes)
        return Intake(version, report.notes, report.measured, warning)

    def attach_datasets(self, ref: str, datasets: dict[str, str], *, actor: str) -> Intake:
        """`retrain model datasets V`: the team's splits become the lineage's original dataset from now on
        (recorded as DatasetsAttached); the version is measured on them."""
        if not datasets:
            raise InvalidInput("give at least one of --train, --val and --test")
        version = self.ledger.version(ref)
        dataset = self._store(datasets, version.classes)
        assert dataset is not None
        report = _as_invalid_input(self.intake.admit, IntakeRequest(
            self.blobs.get(version.artifact_sha256), version.architecture, version.architecture_options,
            version.classes, version.input_spec, dataset))

        def command() -> ModelVersion:
            fresh = self.ledger.version(ref)
            fresh.attach_datasets(dataset_id=dataset.dataset_id, sizes=dataset.sizes,
                                  sources=_sources(datasets),
                                  actor=actor, timestamp=self.clock.now())
            self.ledger.save(fresh)
            return fresh

        attached = self.ledger.retrying(command)
        log.info("datasets_attached", version=attached.label, dataset=dataset.dataset_id[:12], **dataset.sizes)
        return Intake(attached, [], report.measured, self._sanity(report.measured, len(version.classes)))

    def _store(self, datasets: dict[str, str], classes: list[str]) -> OriginalDataset | None:
        if not datasets:
            return None
        try:
            return self.catalog.attach(datasets, classes)
        except ValueError as error:
            raise InvalidInput(str(error)) from None

    def _refuse_duplicate(self, sha256: str) -> None:
        for version in self.ledger.versions():
            if version.artifact_sha256 == sha256:
                raise IllegalTransition(f"these weights are already registered as {version.label} (sha256 "
                                        f"{sha256[:12]}): pass --allow-duplicate to register them again")

    @staticmethod
    def _sanity(measured: dict[str, dict[str, Any]], classes: int) -> str | None:
        test = measured.get("test")
        if not test or "accuracy" not in test:
            return None
        return below_chance(accuracy=float(test["accuracy"]), classes=classes)


def _as_invalid_input(call: Callable[..., T], *args: Any) -> T:
    """The adapter's one-sentence ValueError (or torch's RuntimeError) as invalid input: exit 2, nothing recorded."""
    try:
        return call(*args)
    except (ValueError, KeyError, RuntimeError) as error:
        raise InvalidInput(str(error)) from None


def _sources(datasets: dict[str, str]) -> dict[str, str]:
    """What the event records of each split: the directory's or manifest's name, not the whole local path."""
    return {split: source.rstrip("/").rsplit("/", 1)[-1] for split, source in datasets.items()}


def _registered_training(dataset: OriginalDataset | None, report: IntakeReport,
                         datasets: dict[str, str]) -> dict[str, Any]:
    metrics = {f"{split}_accuracy": m["accuracy"] for split, m in report.measured.items() if "accuracy" in m}
    metrics |= {f"{split}_items": m["items"] for split, m in report.measured.items() if "accuracy" in m}
    if dataset is None:
        return {"config": {"source": "registered", "intake": report.notes}, "metrics": metrics}
    metrics["original_train_items"] = dataset.sizes.get("train", 0)
    return {"dataset_id": dataset.dataset_id,
            "config": {"source": "registered", "intake": report.notes, "original_dataset_id": dataset.dataset_id,
                       "original_sizes": dataset.sizes, "original_sources": _sources(datasets)},
            "metrics": metrics}
