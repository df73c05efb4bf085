"""BlobStore on the local filesystem: <root>/<sha256[:2]>/<sha256>, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class FilesystemBlobStore:
    """Content-addressed files; a blob is visible only once completely written and synced."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
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

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def has(self, sha256: str) -> bool:
        try:
            return self._path(sha256).is_file()
        except FileNotFoundError:
            return False
