"""Structured logs on stderr: readable key=value lines in a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, verbose: bool = False, json_logs: bool | None = None, service: bool = False) -> None:
    """Warnings and errors for one-shot commands; also the info lines for services (`serve`, `worker`)."""
    level = logging.DEBUG if verbose else logging.INFO if service else logging.WARNING
    as_json = (not sys.stderr.isatty()) if json_logs is None else json_logs
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
