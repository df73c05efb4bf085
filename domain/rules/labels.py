"""Rule 4.3: the label a user gave in a comment ("c'est un 7", "should be 4", "label: cat"), French or English."""

from __future__ import annotations

import re
from collections.abc import Iterable

from domain.rules.negative_comments import fold

_ARTICLE = r"(?:(?:un|une|a|an)\s+)?"
_WORD = r"([\w-]+)"
# Patterns run on the folded comment: lower case, accents removed, typographic apostrophes straightened.
LABEL_PATTERNS = (
    re.compile(r"\bc'est\s+" + _ARTICLE + _WORD),
    re.compile(r"\bc'etait\s+" + _ARTICLE + _WORD),
    re.compile(r"\bdevrait\s+etre\s+" + _ARTICLE + _WORD),
    re.compile(r"\bshould\s+be\s+" + _ARTICLE + _WORD),
    re.compile(r"\bit's\s+" + _ARTICLE + _WORD),
    re.compile(r"\bit\s+is\s+" + _ARTICLE + _WORD),
    re.compile(r"\blabel\s*[:=]\s*" + _WORD),
)


def extract_label(comment: str | None, classes: Iterable[str]) -> str | None:
    """Exactly one of the version's classes named by a label pattern, else None (none found, or two different)."""
    if not comment:
        return None
    by_folded = {fold(c): c for c in classes}
    text = fold(comment).replace("\u2019", "'").replace("`", "'")
    found = {
        by_folded[match.group(1)]
        for pattern in LABEL_PATTERNS
        for match in pattern.finditer(text)
        if match.group(1) in by_folded
    }
    return found.pop() if len(found) == 1 else None
