"""Rule 4.1.4: an accumulation of negative comments naming a watched term ("flou", "mauvais", ...)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from domain.rules.verdicts import TriggerVerdict

NEGATIVE_COMMENTS = "negative_comments"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text: 'Floue' and 'FLOUÉ' both fold to 'floue'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _fold_spaces(text: str) -> str:
    return _SPACES.sub(" ", fold(text)).strip()


@lru_cache(maxsize=32)
def _matchers(terms: tuple[str, ...]) -> tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]:
    """Single words are looked up among the comment's words; phrases ("pas net") are searched, bounded by non-words."""
    words: dict[str, str] = {}
    phrases: list[tuple[re.Pattern[str], str]] = []
    for term in terms:
        folded = _fold_spaces(term)
        if _WORD.fullmatch(folded):
            words.setdefault(folded, term)
        elif folded:
            phrases.append((re.compile(rf"(?<!\w){re.escape(folded)}(?!\w)"), term))
    return words, phrases


def watched_terms_in(comment: str, terms: Iterable[str]) -> set[str]:
    """The watched terms that occur in the comment as whole words (so "flou" is not found in "flouté")."""
    words, phrases = _matchers(tuple(terms))
    folded = _fold_spaces(comment)
    found = {words[word] for word in _WORD.findall(folded) if word in words}
    return found | {term for pattern, term in phrases if pattern.search(folded)}


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
