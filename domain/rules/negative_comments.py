"""Rule 4.1.4: an accumulation of negative comments naming a watched term ("flou", "mauvais", ...)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from domain.rules.verdicts import TriggerVerdict

NEGATIVE_COMMENTS = "negative_comments"
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text: 'Floue' and 'FLOUÉ' both fold to 'floue'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def watched_terms_in(comment: str, terms: Iterable[str]) -> set[str]:
    """The watched terms that occur in the comment as whole words."""
    words = set(_WORD.findall(fold(comment)))
    return {term for term in terms if fold(term) in words}


def evaluate_negative_comments(comments: Sequence[str], *, terms: Sequence[str], minimum: int) -> TriggerVerdict:
    """Breach iff at least `minimum` negative comments of the window contain a watched term; counts per term."""
    per_term: Counter[str] = Counter()
    matching = 0
    for comment in comments:
        found = watched_terms_in(comment, terms)
        if found:
            matching += 1
            per_term.update(found)
    return TriggerVerdict(
        NEGATIVE_COMMENTS,
        "breached" if matching >= minimum else "ok",
        float(minimum),
        float(matching),
        len(comments),
        evidence={"per_term": dict(sorted(per_term.items())), "negative_comments": len(comments)},
    )
