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

from sentry_logging_std._capture import LogEntry
from sentry_logging_std._options import Options, parse_options
from sentry_logging_std._reporter import EVENT_ID_KEY, Reporter
from sentry_logging_std._stacks import freeze_stack

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

#: Keys with a meaning of their own, never passed on as context.
_OWN_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "exc_info",
        "exception",
        "stack_info",
        EVENT_ID_KEY,
        "_record",
        "_from_structlog",
    }
)

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
        value = True
    if not value:
        return None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3:
        return value if isinstance(value[1], BaseException) else None
    found = sys.exc_info()
    return found if found[1] is not None else None


def _caller() -> Optional[FrameType]:
    """The application's frame that made the log call (the first outside the machinery)."""
    frame: Optional[FrameType] = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (isinstance(name, str) and name.partition(".")[0] in _MACHINERY):
            return frame
        frame = frame.f_back
    return None


def _text(value: Any) -> str:
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


class SentryProcessor:
    """A structlog processor: ``structlog.configure(processors=[..., SentryProcessor(dsn=...),
    ..., JsonRenderer()])``.

    Takes the same options as :class:`SentryHandler`. It passes every event
    dict on, with ``sentry_event_id`` added to those it sent; it never raises
    into the application (an event dict it cannot report is counted, on
    stderr, and passed on).
    """

    def __init__(self, **options: Any) -> None:
        self._reporter = Reporter(parse_options(options, "SentryProcessor"))

    @property
    def options(self) -> Options:
        """This processor's validated options."""
        return self._reporter.options

    @options.setter
    def options(self, options: Options) -> None:
        self._reporter.options = options

    @property
    def last_event_id(self) -> Optional[str]:
        """The id of the last event this processor handed to sentry-sdk, or None."""
        return self._reporter.last_event_id

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        try:
            self._report(logger, method_name, event_dict)
        except Exception:
            self._report_error()
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
        frame = _caller()
        name = _logger_name(logger, event_dict, frame)
        if not reporter.is_event(levelno):
            if not reporter.reported(record):
                reporter.breadcrumb(_entry(event_dict, name, levelno, None, frame, False))
                reporter.mark_reported(record)  # a SentryHandler further on adds none again
            return
        exc_info = _exc_info(method_name, event_dict)
        template = _text(event_dict.get("event", ""))
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
        if isinstance(event_id, str):
            event_dict[EVENT_ID_KEY] = event_id
            reporter.mark_reported(record)

    # -- what every front door offers -------------------------------------------------------

    def init(self) -> bool:
        """Start the client now instead of on the first event; True if one is running."""
        return self._reporter.init()

    @property
    def running(self) -> bool:
        """Whether a sentry-sdk client is active for this processor to send through."""
        return self._reporter.running

    def stats(self) -> dict[str, int]:
        """Counts of envelopes sent and dropped (by reason), and of those pending."""
        return self._reporter.stats()

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait, at most ``timeout`` (default ``shutdown_timeout``), for queued events."""
        self._reporter.flush(timeout)

    def _report_error(self) -> None:
        # Like logging.Handler.handleError: said on stderr, never raised.
        import traceback

        if sys.stderr is not None:
            try:
                sys.stderr.write("--- sentry-logging-std: SentryProcessor failed ---\n")
                traceback.print_exc(file=sys.stderr)
            except Exception:  # noqa: S110 - stderr itself is broken: nowhere left to report
                pass

    def __repr__(self) -> str:
        target = self.options.dsn.netloc if self.options.dsn else "no DSN"
        return f"<SentryProcessor {target}>"


def _logger_name(logger: Any, event_dict: MutableMapping[str, Any], frame: Any) -> str:
    name = event_dict.get("logger")
    if isinstance(name, str):
        return name
    name = getattr(logger, "name", None)
    if isinstance(name, str):
        return name
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
    extra.update((k, v) for k, v in event_dict.items() if k not in _OWN_KEYS)
    message = _text(event_dict.get("event", ""))
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
