"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits-cnn state dict saved with torch.save, as a user would bring."""
    from adapters.torch.models import build_model, state_dict_bytes

    path = tmp_path_factory.mktemp("weights") / "digits.pt"
    path.write_bytes(state_dict_bytes(build_model("digits-cnn", 10)))
    return path
