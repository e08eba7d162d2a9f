"""structlog set-up for the scheduler's processes: logs go to stderr so a command's stdout (run
ids, tables) stays clean for scripts and cron mail."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from core import redact
from core.settings import Settings


class _StreamLogger:
    """Writes each rendered line to the stream current at call time (stderr unless given)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        print(message, file=self._stream or sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def configure(settings: Settings, stream: TextIO | None = None) -> None:
    level = logging.getLevelName(settings.log_level.upper())
    renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer(colors=False)
    formatters: list[structlog.typing.Processor] = []  # the console renderer formats tracebacks itself
    if settings.log_json:
        renderer = structlog.processors.JSONRenderer()
        formatters = [structlog.processors.format_exc_info]  # else a JSON line says only exc_info=true
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *formatters,
            _redacting(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            level if isinstance(level, int) else logging.INFO
        ),
        logger_factory=lambda *_args: _factory(stream),
        cache_logger_on_first_use=False,
    )


def _redacting(renderer: structlog.typing.Processor) -> structlog.typing.Processor:
    """The renderer, then the current run's redactor over the whole line (tracebacks included)."""

    def render(logger: Any, name: str, event_dict: structlog.typing.EventDict) -> Any:
        line = renderer(logger, name, event_dict)
        redactor = redact.current()
        if isinstance(line, str):
            return redactor.text(line)
        return redactor.bytes(line) if isinstance(line, bytes) else line

    return render


def _factory(stream: TextIO | None) -> Any:
    return _StreamLogger(stream)
