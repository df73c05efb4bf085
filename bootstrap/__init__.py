"""The composition root: settings -> adapters -> use cases. The only module that knows both sides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from adapters.blobs.filesystem import FilesystemBlobStore
from adapters.clock import SimulatedClock, SystemClock
from adapters.images import image_problem
from adapters.ingestion_pool import ProcessParsingPool
from application.audit import Audit
from application.first_model import FirstModel
from application.ledger import Ledger
from application.models import ModelRegistry
from application.ports import (
    BlobStore,
    Clock,
    DatasetCatalog,
    Evaluator,
    FeedbackStore,
    PredictionLog,
    Predictor,
    Trainer,
)
from application.prediction_log import DirectLog
from application.retrain import Retrain
from application.settings import Settings, SettingsError
from application.team_models import TeamModels
from domain.errors import InvalidInput


def event_store_env(url: str) -> dict[str, str]:
    """eventsourcing's own persistence modules, chosen by URL: SQLite file, PostgreSQL, or in memory."""
    if url.startswith("memory:"):
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "SQLITE_LOCK_TIMEOUT": "30"}
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        parts = urlparse(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": "5",
        }
    raise SettingsError(f"invalid setting event_store: unsupported URL {url!r}")


def build_blob_store(settings: Settings) -> BlobStore:
    """A directory, or S3-compatible object storage for `s3://bucket/prefix` (boto3 imported only then)."""
    location = settings.blob_store_location
    if location.startswith("s3://"):
        from adapters.blobs.s3 import S3BlobStore

        s3 = settings.s3
        secret = s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
        return S3BlobStore(location, endpoint_url=s3.endpoint_url, region=s3.region,
                           access_key_id=s3.access_key_id, secret_access_key=secret)
    return FilesystemBlobStore(Path(location))


def build_s3_reader(settings: Settings) -> Callable[[str], bytes]:
    """Reads `s3://bucket/key` objects (a team's dataset manifests) with the `s3` settings' client."""

    def read(url: str) -> bytes:
        from adapters.blobs.s3 import read_s3_url, s3_client

        s3 = settings.s3
        secret = s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
        return read_s3_url(s3_client(endpoint_url=s3.endpoint_url, region=s3.region, access_key_id=s3.access_key_id,
                                     secret_access_key=secret), url)

    return read


def parse_time(name: str, text: str) -> datetime:
    """An RFC 3339 time with its UTC offset, or one clear sentence naming the option."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} {text!r} needs a UTC offset, e.g. 2026-01-01T00:00:00Z")
    return moment


def build_clock(now: str | None = None) -> Clock:
    """The system clock, or a simulated one fixed at `now` (RFC 3339 with an offset)."""
    return SystemClock() if now is None else SimulatedClock(parse_time("--now", now))


class Lazy:
    """An adapter built on first use: commands that never train or predict do not pay for importing torch."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._target: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            self._target = self._factory()
        return getattr(self._target, name)


class Container:
    """One object graph per process, built once and lazily from the settings: each adapter and use case exists
    once, and every driving adapter (CLI, HTTP, worker) reaches the same ones."""

    def __init__(self, settings: Settings, clock: Clock, *, server: bool = False) -> None:
        self.settings = settings
        self.clock = clock
        self.server = server  # a long-lived server: its own torch thread budget

    @cached_property
    def ledger(self) -> Ledger:
        """The event store, with its read models kept in the feedback store's database."""
        from adapters.sql.startup import opening_alone
        from adapters.sql.view_store import SqlViewStore

        views = SqlViewStore(self.feedback.engine)  # type: ignore[attr-defined]
        with opening_alone(self.settings.event_store_url, "event_store"):
            return Ledger(env=event_store_env(self.settings.event_store_url), views=views)

    @cached_property
    def blobs(self) -> BlobStore:
        return build_blob_store(self.settings)

    @cached_property
    def feedback(self) -> FeedbackStore:
        from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
        from adapters.sql.startup import check_reachable

        check_reachable(self.settings.feedback_store_url, "feedback_store")
        return SqlAlchemyFeedbackStore(self.settings.feedback_store_url)

    @cached_property
    def predictor(self) -> Predictor:
        def predictor() -> Any:
            from adapters.torch.predictor import TorchPredictor

            threads = self.settings.serve.torch_threads if self.server else None
            return TorchPredictor(self.blobs, threads=threads)

        return Lazy(predictor)  # type: ignore[return-value]

    @cached_property
    def trainer(self) -> Trainer:
        def trainer() -> Any:
            from adapters.torch.trainer import TorchTrainer

            return TorchTrainer(self.blobs, cluster=self.cluster)

        return Lazy(trainer)  # type: ignore[return-value]

    def check_stores(self) -> None:
        """StoreUnavailable, within seconds, unless both stores' databases can be reached (PostgreSQL only)."""
        from adapters.sql.startup import check_reachable

        urls = {self.settings.feedback_store_url: "feedback_store", self.settings.event_store_url: "event_store"}
        for url, setting in urls.items():  # one connection when both stores share a database
            check_reachable(url, setting)

    @cached_property
    def cluster(self) -> Any:
        """Where data-parallel trainings run (training.nodes hosts; node 0 trains)."""
        from adapters.torch.distributed import Cluster

        training = self.settings.training
        return Cluster(training.nodes, training.master_addr, training.master_port)

    def follow_training(self, node_rank: int, *, check_only: bool = False, stopping: Any = None) -> int:
        """Take part in one data-parallel training as node `node_rank` (> 0); torchrun's exit code. With
        `check_only`, only check that this host can be that node."""
        from adapters.torch.distributed import DistributedTrainingError, follow

        if self.settings.training.nodes < 2:
            raise InvalidInput("training.nodes is 1: trainings run on one host, with no node to join")
        try:
            return follow(self.cluster, self.settings.training.world_size, node_rank, check_only=check_only,
                          stopping=stopping)
        except DistributedTrainingError as error:
            raise InvalidInput(str(error)) from None

    @cached_property
    def evaluator(self) -> Evaluator:
        def evaluator() -> Any:
            from adapters.torch.evaluator import TorchEvaluator

            return TorchEvaluator(self.blobs, latency_calls=self.settings.validation.latency_calls)

        return Lazy(evaluator)  # type: ignore[return-value]

    @cached_property
    def prediction_log(self) -> PredictionLog:
        return DirectLog(self.feedback, self.blobs)

    @cached_property
    def models(self) -> ModelRegistry:
        return ModelRegistry(ledger=self.ledger, blobs=self.blobs, predictor=self.predictor, clock=self.clock)

    @cached_property
    def audit(self) -> Audit:
        return Audit(ledger=self.ledger)

    @cached_property
    def retrain(self) -> Retrain:
        """Every use case over the real adapters: SQL feedback store, blob store, torch (imported on first use)."""
        return Retrain(
            settings=self.settings, ledger=self.ledger, feedback=self.feedback, blobs=self.blobs,
            trainer=self.trainer, evaluator=self.evaluator, predictor=self.predictor, clock=self.clock,
            models=self.models, audit=self.audit, prediction_log=self.prediction_log, image_check=image_problem,
            parsing_pool=ProcessParsingPool(),
        )

    @cached_property
    def catalog(self) -> DatasetCatalog:
        from adapters.torch.dataset_sources import ManifestDatasetCatalog

        return ManifestDatasetCatalog(self.blobs, fetch=build_s3_reader(self.settings))

    @cached_property
    def first_model(self) -> FirstModel:
        return FirstModel(ledger=self.ledger, catalog=self.catalog, trainer=self.trainer,
                          registry=self.models, blobs=self.blobs, training=self.settings.training)

    @cached_property
    def team_models(self) -> TeamModels:
        from adapters.torch.intake import TorchModelIntake

        return TeamModels(ledger=self.ledger, registry=self.models, intake=TorchModelIntake(self.blobs),
                          catalog=self.catalog, blobs=self.blobs, clock=self.clock)

    def close(self) -> None:
        """Release the stores."""
        if "feedback" in self.__dict__:
            self.feedback.close()  # type: ignore[attr-defined]
