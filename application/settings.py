"""Settings (SPEC section 6): RETRAIN_* environment variables over retrain.toml over the defaults."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource
from pydantic_settings import SettingsError as SourceError

from domain.policy import (
    CampaignPolicy,
    CurationPolicy,
    ReviewPolicy,
    RolloutPolicy,
    StrategyPolicy,
    TriggerPolicy,
    ValidationPolicy,
)


class TrainingSettings(BaseModel):
    """Rule 4.5: training hyper-parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    fine_tune_learning_rate: PositiveFloat = 1e-4
    # fine-tuning also tries these, from the same start; the lowest validation loss wins (recorded)
    fine_tune_learning_rate_candidates: list[PositiveFloat] = Field(default_factory=lambda: [1e-3])
    fine_tune_max_epochs: PositiveInt = 20
    # a small curated set makes short epochs: fine-tuning on fewer curated items than this gets the longer cap
    fine_tune_small_set_items: int = Field(1000, ge=0)
    fine_tune_small_set_max_epochs: PositiveInt = 40
    full_learning_rate: PositiveFloat = 1e-3
    full_max_epochs: PositiveInt = 50
    patience: PositiveInt = 3
    # after an epoch that did not lower the validation loss, the learning rate is multiplied by this (0: never);
    # training from scratch (init, full) gains from it (MNIST init: 96.8 % -> 97.9 % test accuracy)
    full_plateau_factor: float = Field(0.5, ge=0, lt=1)
    fine_tune_plateau_factor: float = Field(0.0, ge=0, lt=1)
    rehearsal_max: int = Field(5000, ge=0)
    rehearsal_ratio: PositiveInt = 4  # fine-tuning replays this many original items per curated one
    rehearsal_min: int = Field(500, ge=0)  # ... and at least this many (up to the original set's size)
    batch_size: PositiveInt = 64
    # rule 4.5, drift-aware: copies of original images made to look like each drifted segment join the training set
    drift_matching: bool = True
    # early stopping on the validation loss averaged per image type, not per item
    balanced_validation: bool = True
    seed: int = 0
    world_size: PositiveInt = 1  # data-parallel worker processes in all, spread evenly over `nodes` hosts
    nodes: PositiveInt = 1  # hosts; node 0 is the one that trains, the others run `retrain train-node`
    master_addr: str = Field("127.0.0.1", min_length=1)  # node 0's address as the other nodes reach it
    master_port: int = Field(29500, ge=1, le=65535)

    @model_validator(mode="after")
    def _world_spreads_over_nodes(self) -> TrainingSettings:
        if self.world_size % self.nodes:
            raise ValueError(f"world_size ({self.world_size}) must be a multiple of nodes ({self.nodes})")
        return self


class WorkerSettings(BaseModel):
    """Campaign steps claimed by workers: how long a claim holds before another worker may take the step over."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lease_seconds: PositiveFloat = 900.0
    training_lease_seconds: PositiveFloat = 6 * 3600.0
    poll_seconds: PositiveFloat = 5.0

    def lease(self, step: str) -> timedelta:
        return timedelta(seconds=self.training_lease_seconds if step == "train" else self.lease_seconds)


class ServeSettings(BaseModel):
    """`retrain serve`: its background loop, its batches (one forward pass and one commit each), torch threads."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tick_seconds: PositiveFloat = 60.0
    max_batch: PositiveInt = 256
    max_body_mb: PositiveInt = 64  # a larger request is refused with 413 before it is read (use `retrain ingest`)
    torch_threads: PositiveInt = 1


class ApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    roles: tuple[Literal["ingest", "reviewer", "operator", "reader"], ...] = Field(min_length=1)


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tokens: tuple[ApiToken, ...] = ()


class S3Settings(BaseModel):
    """Where an `s3://bucket/prefix` blob store lives; what is left unset comes from boto3's own chain (the AWS_*
    variables, a profile, an instance role)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    endpoint_url: str | None = Field(None, pattern=r"^https?://")  # an S3-compatible server (MinIO, Ceph, ...)
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class Settings(BaseSettings):
    """Every setting of the product; an invalid one fails at start, naming the setting."""

    model_config = SettingsConfigDict(env_prefix="RETRAIN_", env_nested_delimiter="__", extra="forbid", frozen=True,
                                      allow_inf_nan=False)
    config_file: ClassVar[Path | None] = None

    home: Path = Path(".retrain")
    event_store: str | None = None
    feedback_store: str | None = None
    blob_store: str | None = None
    triggers: TriggerPolicy = TriggerPolicy()
    campaigns: CampaignPolicy = CampaignPolicy()
    curation: CurationPolicy = CurationPolicy()
    review: ReviewPolicy = ReviewPolicy()
    strategy: StrategyPolicy = StrategyPolicy()
    training: TrainingSettings = TrainingSettings()
    validation: ValidationPolicy = ValidationPolicy()
    rollout: RolloutPolicy = RolloutPolicy()
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    serve: ServeSettings = ServeSettings()
    s3: S3Settings = S3Settings()

    @model_validator(mode="after")
    def _urls_are_known(self) -> Settings:
        for name in ("event_store", "feedback_store"):
            url = getattr(self, name)
            if url is not None and not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://",
                                                       "memory:")):
                raise ValueError(f"{name} must be a sqlite:// or postgresql:// URL, not {url!r}")
            if url is not None and url.startswith("sqlite:///"):  # only the home is created; a typo is not
                directory = Path(url.removeprefix("sqlite:///")).parent
                if not directory.is_dir():
                    raise ValueError(f"{name}: the directory {directory} does not exist")
        if self.blob_store is not None and "://" in self.blob_store and not self.blob_store.startswith("s3://"):
            raise ValueError("blob_store must be a directory or an s3://bucket/prefix location, "
                             f"not {self.blob_store!r}")
        if self.blob_store is not None and self.blob_store.startswith("s3://") and len(self.blob_store) <= len("s3://"):
            raise ValueError("blob_store needs a bucket: s3://bucket/prefix")
        return self

    @property
    def stores_in_home(self) -> bool:
        """Some store is kept in the home directory (a store left to its default)."""
        return None in (self.event_store, self.feedback_store, self.blob_store)

    @property
    def event_store_url(self) -> str:
        return self.event_store or f"sqlite:///{self.home / 'events.db'}"

    @property
    def feedback_store_url(self) -> str:
        return self.feedback_store or f"sqlite:///{self.home / 'feedback.db'}"

    @property
    def blob_store_location(self) -> str:
        return self.blob_store or str(self.home / "blobs")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.config_file))
        return tuple(sources)


class SettingsError(Exception):
    """The configuration is invalid; the message names the setting."""


class HomeUnusable(SettingsError):
    """The home cannot be the data directory: `problem` says why, starting with the path."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"home {problem}")
        self.problem = problem


def home_problem(home: Path, *, writable: bool = True) -> str | None:
    """Why `home` cannot be (or become) the data directory, starting with its path; None when it can. Checked before
    anything is created, so that a wrong path is one sentence and leaves nothing behind."""
    try:
        if home.is_symlink() and not home.exists():
            return f"{home} is a link to {os.readlink(home)}, which does not exist"
        if home.exists():
            if not home.is_dir():
                return f"{home} is a file, not a directory"
            return f"{home} is not writable" if writable and not os.access(home, os.W_OK | os.X_OK) else None
        existing = next(parent for parent in home.absolute().parents if parent.exists())
    except OSError as error:  # a parent that cannot be searched
        return f"{home} cannot be reached: {error.strerror or error}"
    if not existing.is_dir():
        return f"{home} is under {existing}, which is a file, not a directory"
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        return f"{home} cannot be created: {existing} is not writable"
    return None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, the TOML file (default ./retrain.toml if present) and explicit overrides."""
    if config_file is None and Path("retrain.toml").is_file():
        config_file = Path("retrain.toml")
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"configuration file {config_file} does not exist")
    source = type("FileSettings", (Settings,), {"config_file": config_file})
    try:
        settings = source(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a check across settings; its reason names them
            raise SettingsError(f"invalid settings: {reason}") from None
        raise SettingsError(f"invalid setting {'.'.join(str(part) for part in first['loc'])}: {reason}") from None
    except SourceError as error:  # an environment variable that is not the JSON its setting needs
        where = str(error).split('"')[1] if str(error).count('"') >= 2 else "configuration"
        raise SettingsError(f"invalid setting {where}: its RETRAIN_* environment value is not valid JSON") from None
    except ValueError as error:  # a malformed TOML file
        raise SettingsError(f"invalid configuration file {config_file}: {error}") from None
    problem = home_problem(settings.home, writable=settings.stores_in_home)
    if problem is not None:
        raise HomeUnusable(problem)
    return settings
