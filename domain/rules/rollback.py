"""Rule 4.8 ("sauvegarde systématique"): only a version that served production before can be restored."""

from __future__ import annotations


def restore_refusal(*, state: str, was_production: bool) -> str | None:
    """Why the version cannot be made production again, or None when it can."""
    if state == "production":
        return "it is already in production"
    if state == "retired":
        return "it is retired"
    if not was_production:
        return "it has never been in production"
    return None
