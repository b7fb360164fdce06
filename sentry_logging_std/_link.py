"""Linking a log line to its Sentry event, whichever handler runs first.

A JSON formatter writing a record's line wants the id of the Sentry event
the same record becomes. The two handlers may be attached in either order,
and neither may change the record, so the id is decided by whoever asks first
(``_capture.event_id_for``) and the formatter asks whether a SentryHandler on
the record's way through the logger tree sends it as an event.
"""

from __future__ import annotations

import logging
from typing import Optional

from sentry_logging_std._capture import event_id_for
from sentry_logging_std._client import INITIALIZER, was_captured
from sentry_logging_std._handler import IGNORED_LOGGERS, SentryHandler

__all__ = ["sentry_event_id"]


def _handlers_on_path(name: str) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    logger: Optional[logging.Logger] = logging.getLogger(name)
    while logger is not None:
        handlers.extend(logger.handlers)
        if not logger.propagate:
            break
        logger = logger.parent
    return handlers


def sentry_event_id(record: logging.LogRecord) -> Optional[str]:
    """The id of the Sentry event *record* becomes, or None if it becomes none.

    Exact when a SentryHandler has already sent the record; otherwise decided
    by the SentryHandlers the record will reach (their level, event level and
    filters), with a running client. Cheap for records below every event
    level: that is checked first.
    """
    if record.levelno < INITIALIZER.lowest_event_level:
        return None
    if was_captured(record):
        return event_id_for(record)
    if record.name.partition(".")[0] in IGNORED_LOGGERS:
        return None
    for handler in _handlers_on_path(record.name):
        if (
            isinstance(handler, SentryHandler)
            and record.levelno >= handler.options.event_level
            and record.levelno >= handler.level
            and handler.filter(record)
            and INITIALIZER.start_soon(handler.options)
        ):
            return event_id_for(record)
    return None
