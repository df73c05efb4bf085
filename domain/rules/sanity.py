"""A model worth serving: test accuracy at least 1.5 x chance (a first model, or a team's registered one).

Below it, the model most likely learned nothing, or its classes, input size or normalisation do not match the data:
making it production then needs an explicit `--force`."""

from __future__ import annotations

from fractions import Fraction

CHANCE_FACTOR = Fraction(3, 2)


def below_chance(*, accuracy: float, classes: int, factor: Fraction = CHANCE_FACTOR) -> str | None:
    """Why the accuracy is not worth serving, in words, or None when it is at least `factor` x chance."""
    floor = factor / classes
    if Fraction(accuracy).limit_denominator(10**6) >= floor:
        return None
    return (f"test accuracy {accuracy:.1%} is below {float(factor):g} x chance ({float(floor):.1%} for {classes} "
            "classes): the model learned little, or its classes, input size or normalisation do not match the data")
