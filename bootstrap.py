"""The composition root: settings -> adapters -> the application. The only place that knows both."""

from __future__ import annotations
