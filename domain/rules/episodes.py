"""Rule 4.1: a breach is recorded once per episode, and its recovery once when the rule passes again."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal

from domain.rules.verdicts import TriggerVerdict

Transition = tuple[Literal["breached", "recovered"], TriggerVerdict]


def episode_transitions(
    open_breaches: Collection[tuple[str, str | None]], verdicts: Iterable[TriggerVerdict]
) -> list[Transition]:
    """What to record: a breach not yet open starts an episode, an ok rule ends an open one, the rest is unchanged."""
    transitions: list[Transition] = []
    for verdict in verdicts:
        is_open = verdict.key in open_breaches
        if verdict.state == "breached" and not is_open:
            transitions.append(("breached", verdict))
        elif verdict.state == "ok" and is_open:
            transitions.append(("recovered", verdict))
    return transitions
