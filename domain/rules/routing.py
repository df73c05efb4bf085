"""Rule 4.7 routing: a stable bucket per user (or per prediction) decides who the candidate serves."""

from __future__ import annotations

import hashlib


def routing_key(user_ref: str | None, prediction_id: str) -> str:
    """The user's pseudonymous id when given, so a user sees one version for a whole phase; else the prediction id."""
    return user_ref if user_ref else prediction_id


def bucket(rollout_id: str, key: str) -> int:
    """The first 8 bytes of sha256(rollout id + key), as an integer, mod 10,000."""
    digest = hashlib.sha256((rollout_id + key).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def serves_candidate(bucket_value: int, percent: float) -> bool:
    """The candidate serves a request iff its bucket < percent x 100."""
    return bucket_value < percent * 100
