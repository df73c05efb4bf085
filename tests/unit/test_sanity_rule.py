"""A model below 1.5 x chance on its test set is not worth serving without --force."""

from __future__ import annotations

import pytest

from domain.rules.sanity import below_chance


@pytest.mark.parametrize(("accuracy", "classes", "refused"), [
    (0.149, 10, True), (0.15, 10, False), (0.151, 10, False), (0.033, 10, True),
    (0.749, 2, True), (0.75, 2, False), (1.0, 2, False), (0.0, 3, True),
])
def test_accuracy_below_one_and_a_half_times_chance_is_named(accuracy: float, classes: int, refused: bool) -> None:
    assert (below_chance(accuracy=accuracy, classes=classes) is not None) is refused


def test_the_reason_states_the_accuracy_and_the_floor_in_words() -> None:
    reason = below_chance(accuracy=0.033, classes=10)
    assert reason is not None and "3.3%" in reason and "15.0%" in reason and "1.5 x chance" in reason
