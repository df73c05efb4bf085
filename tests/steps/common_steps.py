"""Steps every feature shares: versions in production, the passing of time, refused commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_bdd import given, parsers, then, when

from domain.errors import DomainError
from tests.harness import Harness


@given(parsers.parse("{label} is in production"))
def version_in_production(harness: Harness, label: str) -> None:
    """Registers v1 (and the versions before `label`) so that `label` is the production version."""
    while harness.app.ledger.next_version_label() != label:
        harness.register(production=False)
    harness.register(production=True)


@given(parsers.parse("{label} is in production with a latency baseline of {baseline:g} ms"))
def version_in_production_with_baseline(harness: Harness, label: str, baseline: float) -> None:
    while harness.app.ledger.next_version_label() != label:
        harness.register(production=False)
    harness.register(production=True, baseline_ms=baseline)


@given(parsers.parse("{hours:d} hours have passed"))
@when(parsers.parse("{hours:d} hours pass"))
def hours_pass(harness: Harness, hours: int) -> None:
    harness.clock.advance(timedelta(hours=hours))


@given(parsers.parse("{days:d} days have passed"))
@when(parsers.parse("{days:d} days pass"))
def days_pass(harness: Harness, days: int) -> None:
    harness.clock.advance(timedelta(days=days))


@pytest.fixture
def refusal() -> list[DomainError]:
    """Domain errors a `When` step caught, for a `Then ... is refused` step to check."""
    return []


@then(parsers.parse('the command is refused with "{fragment}"'))
def command_refused(refusal: list[DomainError], fragment: str) -> None:
    assert refusal, "the command was accepted"
    assert fragment in str(refusal[-1]), str(refusal[-1])
