"""Every feature again on the embedded stores a user gets by default: the SQLite event store and its read models,
the SQLite feedback store, the filesystem blob store, and the torch predictor's image check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import scenarios

from adapters.blobs.filesystem import FilesystemBlobStore
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from tests.harness import Harness, build_harness, sql_ledger
from tests.integration.real_adapters import TorchImageCheck


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    stores: list[SqlAlchemyFeedbackStore] = []

    def make(**settings: Any) -> Harness:
        home = tmp_path / f"home-{len(stores)}"
        home.mkdir()
        stores.append(SqlAlchemyFeedbackStore(f"sqlite:///{home / 'feedback.db'}"))
        return build_harness(feedback=stores[-1], blobs=FilesystemBlobStore(home / "blobs"),
                             ledger=sql_ledger(f"sqlite:///{home / 'events.db'}", stores[-1]),
                             predictor=TorchImageCheck(), **settings)

    yield make
    for store in stores:
        store.close()


def test_the_real_adapters_are_the_ones_in_use(make_harness: Callable[..., Harness]) -> None:
    from application.ports import ImageDecodeError

    harness = make_harness()
    assert isinstance(harness.blobs, FilesystemBlobStore)
    assert type(harness.app.ledger.recorder).__module__ == "eventsourcing.sqlite"
    with pytest.raises(ImageDecodeError, match="does not decode"):
        harness.predictor.check_image(b"\x89PNG\r\n\x1a\n truncated", {"size": 8})


scenarios(".")
