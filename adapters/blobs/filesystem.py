"""BlobStore on the local filesystem: <root>/<sha256[:2]>/<sha256>, written atomically."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
SYNC_THREADS = 8  # concurrent fsyncs: the disk flushes them together instead of one after another


class FilesystemBlobStore:
    """Content-addressed files; a blob is visible only once completely written and synced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._syncing: ThreadPoolExecutor | None = None

    def _path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise FileNotFoundError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self._path(sha)
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
        return sha

    def put_many(self, blobs: Sequence[bytes], *, sync: bool = True) -> list[str]:
        """Several blobs at once: each new one written completely, then renamed into place, so a blob is whole or
        absent and a crashed process loses none. With `sync`, all are also on disk when this returns (their fsyncs
        run concurrently). Without, the operating system writes them back on its own schedule: a power cut in
        that window can lose them (the serving path's choice, see docs/decisions.md)."""
        shas = [hashlib.sha256(data).hexdigest() for data in blobs]
        new = {sha: data for sha, data in zip(shas, blobs, strict=True) if not self._path(sha).exists()}
        written = [self._write(sha, data) for sha, data in new.items()]
        if sync and written:
            if self._syncing is None:
                self._syncing = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="blob-sync")
            list(self._syncing.map(_sync, [temporary for temporary, _ in written]))
        for temporary, path in written:
            os.replace(temporary, path)
        if sync and written:
            list(self._syncing.map(_sync, sorted({path.parent for _, path in written})))
        return shas

    def _write(self, sha: str, data: bytes) -> tuple[Path, Path]:
        path = self._path(sha)
        temporary = path.with_name(f".tmp-{sha}-{os.getpid()}-{threading.get_ident()}")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return temporary, path

    def delete(self, sha256: str) -> bool:
        path = self._path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _sync(path.parent)
        return True

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def get_many(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Read one after another: a local disk gains nothing from threads here."""
        found = {}
        for sha in dict.fromkeys(shas):
            try:
                found[sha] = self.get(sha)
            except FileNotFoundError:
                continue
        return found

    def has(self, sha256: str) -> bool:
        try:
            return self._path(sha256).is_file()
        except FileNotFoundError:
            return False

    def missing(self, shas: Sequence[str]) -> set[str]:
        return {sha for sha in shas if not self.has(sha)}


def _sync(path: Path) -> None:
    """A file's bytes are on disk once it is synced; a rename, once its directory is."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
