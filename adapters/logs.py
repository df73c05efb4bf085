"""Structured logs on stderr: readable key=value lines in a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any

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


class _Stderr:
    """Writes each rendered line to the stderr of the moment (a progress bar may stand in for it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    info = warning = msg


def progress_log() -> Any:
    """Progress of long work (one line per training epoch): shown at every log level, on a terminal or not,
    rendered like the other log lines (JSON when stderr is not a terminal)."""
    as_json = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    return structlog.wrap_logger(_Stderr(), wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                                 processors=[structlog.processors.add_log_level,
                                             structlog.processors.TimeStamper(fmt="iso", utc=True), renderer])

