"""Shared fixtures; the Gherkin step modules are registered here as plugins."""

from __future__ import annotations

import pytest

from tests.harness import Harness, build_harness

pytest_plugins = [
    "tests.steps.common_steps",
]


@pytest.fixture
def harness() -> Harness:
    """The application over in-memory adapters, at 2026-01-01T00:00Z on a simulated clock."""
    return build_harness()
