"""Real adapters for rerunning features: the fake predictor's answers with the torch predictor's image check."""

from __future__ import annotations

from typing import Any

from tests.fakes import FakePredictor


class TorchImageCheck(FakePredictor):
    """The fake's fixed answers, but the real adapter's image check: what curation relies on to catch corruption."""

    def check_image(self, image: bytes, input_spec: dict[str, Any]) -> None:
        from adapters.torch.predictor import TorchPredictor

        TorchPredictor.check_image(self, image, input_spec)  # type: ignore[arg-type]
