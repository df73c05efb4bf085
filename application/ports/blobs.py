"""The blob store's port: images, datasets and model artifacts, content-addressed by sha256."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class BlobStore(Protocol):
    """Images, datasets and model artifacts, content-addressed by sha256."""

    def put(self, data: bytes) -> str: ...

    def put_many(self, blobs: Sequence[bytes], *, sync: bool = True) -> list[str]:
        """Several blobs, each whole or absent; with `sync`, on disk when it returns, else when the system writes
        them back (a crashed process loses none; a power cut may lose the last ones)."""
        ...

    def get(self, sha256: str) -> bytes: ...

    def get_many(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Several blobs at once (concurrently where the store answers in parallel), by sha256; those absent are
        left out of the answer."""
        ...

    def has(self, sha256: str) -> bool: ...

    def missing(self, shas: Sequence[str]) -> set[str]:
        """Which of these blobs the store lacks (asked concurrently where it answers in parallel)."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove a blob (erasure only: nothing else is ever deleted); False if it was not there."""
        ...


class BlobStoreUnavailable(RuntimeError):
    """The blob store cannot be reached or refuses a request (one sentence naming it)."""
