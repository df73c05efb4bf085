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


def comment_words(text: str) -> str:
    """The folded words of a text between single spaces, with a space at each end: " image floue c est un 7 "."""
    return f" {' '.join(_WORD.findall(fold(text)))} "


def watched_terms_in(comment: str, terms: Iterable[str]) -> set[str]:
    """The watched terms whose words occur in the comment as consecutive whole words ("flou" is not in "flouté")."""
    words = comment_words(comment)
    return {term for term in terms if comment_words(term).strip() and comment_words(term) in words}


def count_watched(comments: Iterable[str], terms: Sequence[str]) -> tuple[int, dict[str, int]]:
    """How many comments name at least one watched term, and how many name each term."""
    per_term: Counter[str] = Counter()
    matching = 0
    for comment in comments:
        found = watched_terms_in(comment, terms)
        if found:
            matching += 1
            per_term.update(found)
    return matching, dict(per_term)


def negative_comments_verdict(matching: int, per_term: dict[str, int], negative: int, *,
                              minimum: int) -> TriggerVerdict:
    """Breach iff at least `minimum` negative comments of the window name a watched term; the counts per term."""
    return TriggerVerdict(
        NEGATIVE_COMMENTS,
        "breached" if matching >= minimum else "ok",
        float(minimum),
        float(matching),
        negative,
        evidence={"per_term": dict(sorted((t, n) for t, n in per_term.items() if n)), "negative_comments": negative},
    )


def evaluate_negative_comments(comments: Sequence[str], *, terms: Sequence[str], minimum: int) -> TriggerVerdict:
    """Breach iff at least `minimum` negative comments of the window contain a watched term; counts per term."""
    matching, per_term = count_watched(comments, terms)
    return negative_comments_verdict(matching, per_term, len(comments), minimum=minimum)
