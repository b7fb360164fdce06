"""SentryProcessor: the structlog front door onto the same core as SentryHandler.

Put it in the processor chain after ``merge_contextvars`` and ``add_log_level``
and before ``format_exc_info`` / ``dict_tracebacks`` (which replace the
exception with its text) and the renderer. Error-level calls become events,
lower ones breadcrumbs; the event's id goes into the event dict as
``sentry_event_id`` for the processors after it (``JsonRenderer`` writes it as
``sentry.event_id``). structlog runs processors on the thread that logs, so
the scope, the exception and the caller's stack are taken there.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import MutableMapping
from types import FrameType
from typing import Any, Optional

try:
    from structlog.contextvars import get_contextvars
except ImportError as exc:  # pragma: no cover - tested in a subprocess without structlog
    raise ImportError(
        "SentryProcessor needs structlog; install it with: "
        "pip install 'sentry-logging-std[structlog]'"
    ) from exc

from sentry_logging_std._capture import LogEntry, safe_text
from sentry_logging_std._options import parse_options
from sentry_logging_std._reporter import FrontDoor, Reporter, report_failure
from sentry_logging_std._stacks import freeze_stack
from sentry_logging_std._structlog_keys import EVENT_ID_KEY, OWN_KEYS, exc_info_of

__all__ = ["EVENT_ID_KEY", "SentryProcessor"]


#: structlog's method names (and ``level`` values) as logging levels.
_LEVELS = {
    "critical": 50,
    "fatal": 50,
    "exception": 40,
    "error": 40,
    "err": 40,
    "warning": 30,
    "warn": 30,
    "info": 20,
    "msg": 20,
    "debug": 10,
    "notset": 0,
}

#: Modules between the application's log call and this processor.
_MACHINERY = ("structlog", "sentry_logging_std", "logging", "asyncio", "concurrent", "threading")


def _levelno(method_name: str, event_dict: MutableMapping[str, Any]) -> int:
    level = event_dict.get("level")
    if isinstance(level, str):
        found = _LEVELS.get(level.lower())
        if found is not None:
            return found
    elif isinstance(level, int) and not isinstance(level, bool):
        return level
    return _LEVELS.get(method_name, 20)


def _exc_info(method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    value = event_dict.get("exc_info")
    if value is None and method_name == "exception":
        value = True  # log.exception() called without structlog's own default
    return exc_info_of(value) if value else None


def _caller() -> Optional[FrameType]:
    """The application's frame that made the log call (the first outside the machinery)."""
    frame: Optional[FrameType] = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (isinstance(name, str) and name.partition(".")[0] in _MACHINERY):
            return frame
        frame = frame.f_back
    return None


class SentryProcessor(FrontDoor):
    """A structlog processor: ``structlog.configure(processors=[..., SentryProcessor(dsn=...),
    ..., JsonRenderer()])``.

    Takes the same options as :class:`SentryHandler`. It passes every event
    dict on, with ``sentry_event_id`` added to those it sent; it never raises
    into the application (an event dict it cannot report is counted, on
    stderr, and passed on).
    """

    def __init__(self, **options: Any) -> None:
        self._reporter = Reporter(parse_options(options, "SentryProcessor"))

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        try:
            self._report(logger, method_name, event_dict)
        except Exception:
            report_failure("SentryProcessor")
        return event_dict

    def _report(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> None:
        reporter = self._reporter
        levelno = _levelno(method_name, event_dict)
        if not reporter.wants(levelno) or EVENT_ID_KEY in event_dict:
            return  # below the levels, or reported already (a copy of a dict sent earlier)
        if event_dict.get("_from_structlog") is False:
            # A plain logging call rendered by ProcessorFormatter: stdlib
            # records are SentryHandler's to report (structlog hands this
            # chain a copy of the record, which nothing else would know).
            return
        if not reporter.ready(levelno):
            return
        record = event_dict
        name = _logger_name(logger, event_dict)
        if not reporter.is_event(levelno):
            if name is None:
                name = _module_name(_caller())
            reporter.breadcrumb(_entry(event_dict, name, levelno, None, None, False))
            reporter.mark_reported(record)  # a SentryHandler further on adds none again
            return
        frame = _caller()  # an event's origin, flood key and stack
        if name is None:
            name = _module_name(frame)
        exc_info = _exc_info(method_name, event_dict)
        template = safe_text(event_dict.get("event", ""))
        key = (
            name,
            template,
            frame.f_code.co_filename if frame is not None else "",
            frame.f_lineno if frame is not None else 0,
            exc_info,
            event_dict.get("fingerprint"),
        )
        with_stack = self.options.attach_stacktrace

        def build() -> LogEntry:
            return _entry(event_dict, name, levelno, exc_info, frame, with_stack)

        event_id = reporter.event(record, key, build)
        if isinstance(event_id, str):  # sent or held back, and known as reported from now
            event_dict[EVENT_ID_KEY] = event_id

    # -- what every front door offers -------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait, at most ``timeout`` (default ``shutdown_timeout``), for queued events."""
        self._reporter.flush(timeout)

    def __repr__(self) -> str:
        target = self.options.dsn.netloc if self.options.dsn else "no DSN"
        return f"<SentryProcessor {target}>"


def _logger_name(logger: Any, event_dict: MutableMapping[str, Any]) -> Optional[str]:
    """The ``logger`` key (add_logger_name), else the wrapped logger's name, else None."""
    name = event_dict.get("logger")
    if isinstance(name, str):
        return name
    name = getattr(logger, "name", None)
    return name if isinstance(name, str) else None


def _module_name(frame: Optional[FrameType]) -> str:
    """The calling module's name, as ``logging.getLogger(__name__)`` would name it."""
    module = frame.f_globals.get("__name__") if frame is not None else None
    return module if isinstance(module, str) else "structlog"


def _entry(
    event_dict: MutableMapping[str, Any],
    name: str,
    levelno: int,
    exc_info: Any,
    frame: Optional[FrameType],
    with_stack: bool,
) -> LogEntry:
    """Take from *event_dict* what an event or breadcrumb needs (the dict unchanged)."""
    # Context bound with bind_contextvars counts even without merge_contextvars
    # in the chain; the event dict's own keys win, as merge_contextvars does it.
    extra = {**get_contextvars()}
    extra.update((k, v) for k, v in event_dict.items() if k not in OWN_KEYS)
    message = safe_text(event_dict.get("event", ""))
    stack = None
    if with_stack and exc_info is None and frame is not None:
        stack = freeze_stack(frame)
    origin: dict[str, Any] = {"logger": name}
    if frame is not None:
        origin.update(
            module=frame.f_globals.get("__name__"),
            function=frame.f_code.co_name,
            file=frame.f_code.co_filename,
            line=frame.f_lineno,
        )
    origin.update(thread=threading.current_thread().name, process=os.getpid())
    return LogEntry(
        record=event_dict,
        logger=name,
        levelno=levelno,
        template=message,
        params=None,
        message=message,
        created=time.time(),
        exc_info=exc_info,
        extra=extra,
        origin=origin,
        stack=stack,
    )
