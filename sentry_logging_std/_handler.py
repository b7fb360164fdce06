"""SentryHandler: the stdlib ``logging`` front door."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, Optional, Union

from sentry_sdk.integrations.logging import LoggingIntegration

from sentry_logging_std._capture import LogEntry, safe_text
from sentry_logging_std._options import parse_options
from sentry_logging_std._reporter import FrontDoor, Reporter
from sentry_logging_std._stacks import caller_frame, freeze_stack

__all__ = ["IGNORED_LOGGERS", "STANDARD_RECORD_ATTRS", "SentryHandler", "entry_from_record"]

#: Records from these loggers (and their children) are never sent: sentry-sdk
#: and urllib3 log while sending, and sending their records would loop. Names,
#: unlike a thread-local flag, also hold for records logged on the transport's
#: own thread.
IGNORED_LOGGERS = frozenset({"sentry_sdk", "urllib3", "sentry_logging_std"})

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
STANDARD_RECORD_ATTRS = frozenset(
    set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
)

_reentry = threading.local()


def _formatted(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # Arguments that do not fit the template: keep both, lose nothing.
        return f"{safe_text(record.msg)} {safe_text(record.args)}"


#: Types whose values never change: a log call's arguments of these alone
#: format the same now or later.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes})
_GET_MESSAGE = logging.LogRecord.getMessage


def _format(msg: str, args: tuple[Any, ...]) -> str:
    """What ``LogRecord.getMessage`` makes of *msg* and *args* (formatting that fails as
    in :func:`_formatted`)."""
    try:
        return msg % args
    except Exception:
        return f"{msg} {safe_text(args)}"


def _message(record: logging.LogRecord) -> Union[str, Callable[[], str]]:
    """The record's message, or a function that makes it later, off the calling thread.

    ``msg % args`` copies every argument into a new string: for a 10 MB
    argument, the biggest cost a log call would pay. It can wait when its
    result cannot change: a string template, arguments of immutable types
    only, and the record formats as ``LogRecord`` does. The template and
    arguments are taken now (a handler after this one may replace
    ``record.msg`` and ``record.args``, as ``QueueHandler.prepare`` did before
    Python 3.12). Anything else, a mutable argument (a list, an object, a
    dict of arguments) or a record class with its own ``getMessage``, is
    formatted now, as the call saw it.
    """
    msg = record.msg
    args = record.args
    if type(msg) is not str or type(record).getMessage is not _GET_MESSAGE:
        return _formatted(record)
    if not args:
        return msg
    if type(args) is tuple and all(type(arg) in _IMMUTABLE for arg in args):
        return functools.partial(_format, msg, args)
    return _formatted(record)


def entry_from_record(record: logging.LogRecord, with_stack: bool) -> LogEntry:
    """Take from *record* what an event or breadcrumb needs (record unchanged)."""
    exc_info = record.exc_info
    if not (isinstance(exc_info, tuple) and exc_info[0] is not None):
        exc_info = None
    args = record.args
    params: Any
    if not args:
        params = None
    elif isinstance(args, tuple):
        params = list(args)
    else:
        params = args
    stack = None
    if with_stack and exc_info is None:
        frame = caller_frame(record.pathname, record.lineno, record.funcName)
        if frame is not None:
            stack = freeze_stack(frame)
    return LogEntry(
        record=record,
        logger=record.name,
        levelno=record.levelno,
        template=safe_text(record.msg),
        params=params,
        message=_message(record),
        created=record.created,
        exc_info=exc_info,
        extra={k: v for k, v in record.__dict__.items() if k not in STANDARD_RECORD_ATTRS},
        origin={
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "file": record.pathname,
            "line": record.lineno,
            "thread": record.threadName,
            "process": record.process,
        },
        stack=stack,
    )


class SentryHandler(FrontDoor, logging.Handler):
    """Sends ERROR records to Sentry as events and lower ones as breadcrumbs.

    Every keyword argument is an option (see the README's table); all are
    checked here, so a bad one fails the ``dictConfig`` call that names it,
    never a log call. The sentry-sdk client starts on the first record that
    needs it, or on :meth:`init`.
    """

    def __init__(self, level: Any = logging.NOTSET, **options: Any) -> None:
        parsed = parse_options(options, "SentryHandler")
        super().__init__(level)
        self._reporter = Reporter(parsed, LoggingIntegration)

    def handle(self, record: logging.LogRecord) -> Any:
        # Like logging.Handler.handle, without holding the handler's lock
        # during emit: sentry-sdk is thread-safe, and the lock would make
        # every thread that logs wait for another thread's event.
        if not self._reporter.wants(record.levelno):
            return False
        result: Any = self.filter(record)
        if isinstance(result, logging.LogRecord):
            record = result
        if result:
            self.emit(record)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_reentry, "active", False):
            return
        _reentry.active = True
        try:
            if str(record.name).partition(".")[0] not in IGNORED_LOGGERS:
                self._send(record)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        finally:
            _reentry.active = False

    def _send(self, record: logging.LogRecord) -> Optional[str]:
        reporter = self._reporter
        if not reporter.ready(record.levelno):
            return None
        if not reporter.is_event(record.levelno):
            reporter.breadcrumb(entry_from_record(record, with_stack=False))
            return None
        exc_info = record.exc_info if record.exc_info and record.exc_info[0] else None
        key = (
            record.name,
            record.msg,
            record.pathname,
            record.lineno,
            exc_info,
            record.__dict__.get("fingerprint"),
        )
        with_stack = self.options.attach_stacktrace
        event_id = reporter.event(record, key, lambda: entry_from_record(record, with_stack))
        return event_id if isinstance(event_id, str) else None

    def flush(self) -> None:
        """Wait, at most ``shutdown_timeout`` in all, for queued events to be built and sent.

        What flood control holds back is sent first, with its counts.
        """
        self._reporter.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            super().close()

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        target = self.options.dsn.netloc if self.options.dsn else "no DSN"
        return f"<{type(self).__name__} {target} ({level})>"
