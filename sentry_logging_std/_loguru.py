"""SentrySink: the loguru front door onto the same core as SentryHandler.

``logger.add(SentrySink(...))`` sends ERROR records as events and lower ones
as breadcrumbs, with the same options, client, tags, fingerprint and user
conventions as the stdlib handler; only the record differs.

loguru calls a sink's ``write`` on the thread that logged, unless the sink was
added with ``enqueue=True``: then ``write`` runs on loguru's worker thread,
where the caller's scope, stack and log-call arguments no longer exist. Pass
``format=sink.format`` as well: loguru calls it on the logging thread, and the
sink takes there what must be taken at call time.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Callable, Optional

try:
    import loguru
except ImportError as exc:  # pragma: no cover - tested in a subprocess without loguru
    raise ImportError(
        "SentrySink needs loguru; install it with: pip install 'sentry-logging-std[loguru]'"
    ) from exc

from sentry_sdk.integrations.loguru import LoguruIntegration
from sentry_sdk.scope import add_global_event_processor

from sentry_logging_std._capture import OWN_EVENT_HINT, LogEntry, event_id_for
from sentry_logging_std._forksafe import ForkSafeLock
from sentry_logging_std._loguru_compat import call_arguments
from sentry_logging_std._options import Options, parse_options
from sentry_logging_std._registry import FRONT_DOORS
from sentry_logging_std._reporter import FrontDoor, Pending, Reporter, report_failure
from sentry_logging_std._stacks import caller_frame, freeze_stack

__all__ = ["SentrySink", "loguru_event_id"]

#: loguru's own levels; custom levels are looked up with ``logger.level(name)``.
_LOGURU_LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}

#: Call-time captures waiting for ``write`` on the worker thread (enqueue=True).
_MAX_PENDING = 10_000


def _loguru_level(name: str) -> Optional[int]:
    if name.upper() in _LOGURU_LEVELS:
        return _LOGURU_LEVELS[name.upper()]
    try:
        return int(loguru.logger.level(name).no)
    except ValueError:
        return None


def _key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    # Survives the pickling enqueue=True puts the record through.
    return (
        record["time"],
        record["thread"].id,
        record["process"].id,
        record["line"],
        record["message"],
    )


# --- exactly one event when sentry-sdk's LoguruIntegration is active too ---------------------

_live_sinks: weakref.WeakSet[SentrySink] = weakref.WeakSet()

#: Set by ``write`` on the thread loguru calls it on. loguru calls a sink's
#: ``flush()`` right after every ``write()``; that call must not wait for
#: delivery, or every log call would.
_written = threading.local()
_sent_extras: collections.OrderedDict[int, Any] = collections.OrderedDict()
_sent_lock = ForkSafeLock()


def _remember_sent(record: Mapping[str, Any]) -> None:
    extra = record["extra"]
    with _sent_lock:
        _sent_extras[id(extra)] = extra  # kept alive, so the id cannot be reused
        while len(_sent_extras) > 1024:
            _sent_extras.popitem(last=False)


def _drop_integration_duplicates(event: Any, hint: Any) -> Any:
    """Drop the event sentry-sdk's LoguruIntegration builds for a record a sink sends.

    Its events carry a stdlib LogRecord that loguru made, whose ``extra``
    attribute is the loguru record's own ``extra`` dict. The sink has either
    sent that record already (its ``extra`` is remembered), or runs after the
    integration's sink and will send it (a live sink's event level admits it).
    """
    if not hint or hint.get(OWN_EVENT_HINT):
        return event
    record = hint.get("log_record")
    extra = getattr(record, "extra", None)
    if not isinstance(extra, dict):
        return event
    with _sent_lock:
        if _sent_extras.get(id(extra)) is extra:
            return None
    levelno = getattr(record, "levelno", 0)
    if any(sink.attached and levelno >= sink.options.event_level for sink in list(_live_sinks)):
        return None
    return event


add_global_event_processor(_drop_integration_duplicates)


def loguru_event_id(record: Mapping[str, Any]) -> Optional[str]:
    """The Sentry event id a SentrySink gives *record*, or None if none sends it.

    For a JSON line written by another loguru sink, whichever runs first.
    """
    levelno = record["level"].no
    if levelno < FRONT_DOORS.lowest_event_level:
        return None
    for sink in list(_live_sinks):
        if sink.attached and levelno >= sink.options.event_level and sink.init():
            return event_id_for(record)
    return None


class SentrySink(FrontDoor):
    """A loguru sink: ``logger.add(SentrySink(dsn=...), level="INFO")``.

    Takes the same options as :class:`SentryHandler`; ``event_level`` and
    ``breadcrumb_level`` also accept loguru's level names (TRACE, SUCCESS and
    custom levels).
    """

    def __init__(self, **options: Any) -> None:
        self._setup(parse_options(options, "SentrySink", level_names=_loguru_level))

    def __reduce__(self) -> tuple[Callable[[Options], SentrySink], tuple[Options]]:
        """Pickled as its options: a process started by spawn or forkserver (loguru
        pickles ``format=sink.format`` and, without ``enqueue``, the sink) gets a sink of
        its own, configured the same, with nothing pending from this one."""
        return (_sink_from_options, (self.options,))

    def _setup(self, options: Options) -> None:
        self._reporter = Reporter(options, LoguruIntegration)
        #: Call-time captures (format=sink.format) waiting for ``write``; None:
        #: nothing to send for that record.
        self._pending: collections.OrderedDict[tuple[Any, ...], Optional[Pending]] = (
            collections.OrderedDict()
        )
        self._pending_lock = ForkSafeLock()
        #: Whether loguru has handed this sink a record and not stopped it since.
        self.attached = True
        _live_sinks.add(self)

    # -- loguru's interface ----------------------------------------------------------------

    def write(self, message: Any) -> None:
        """Called by loguru with each formatted message; ``message.record`` is the record."""
        _written.pending_flush = True
        try:
            record = message.record
            if not self._reporter.wants(record["level"].no):
                return
            if self._pending:  # taken at call time by format (enqueue=True)?
                key = _key(record)
                with self._pending_lock:
                    taken = key in self._pending
                    pending = self._pending.pop(key, None)
                if taken:
                    if pending is not None:
                        _remember_sent(record)
                        self._reporter.send(pending.entry, pending.scope)
                    return
            self._call_time(record, record["thread"].id == threading.get_ident())
        except Exception:
            report_failure("SentrySink")

    def format(self, record: Mapping[str, Any]) -> str:
        """For ``logger.add(sink, format=sink.format, enqueue=True)``: call-time capture.

        loguru calls this on the logging thread before queueing the record;
        the sink takes the scope, the stack and the call's arguments here.
        """
        try:
            if self._reporter.wants(record["level"].no):
                pending = self._call_time(record, on_logging_thread=True, later=True)
                with self._pending_lock:
                    self._pending[_key(record)] = pending
                    while len(self._pending) > _MAX_PENDING:
                        self._pending.popitem(last=False)
        except Exception:
            report_failure("SentrySink")
        return "{message}"

    def stop(self) -> None:
        """Called by loguru's ``logger.remove()``: flush what this sink queued."""
        self.attached = False
        self.flush(self.options.shutdown_timeout)

    # -- API shared with SentryHandler ------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait, at most ``timeout`` (default ``shutdown_timeout``), for queued events.

        What flood control holds back goes first, with its counts. The call
        loguru itself makes after each message returns at once.
        """
        if timeout is None and getattr(_written, "pending_flush", False):
            _written.pending_flush = False
            return
        self._reporter.flush(timeout)

    # -- internals -------------------------------------------------------------------------

    def _call_time(
        self, record: Mapping[str, Any], on_logging_thread: bool, later: bool = False
    ) -> Optional[Pending]:
        """Report *record*, or with *later* take what it needs now and return it."""
        reporter = self._reporter
        levelno = record["level"].no
        if not reporter.ready(levelno):
            return None
        if not reporter.is_event(levelno):
            if on_logging_thread:
                reporter.breadcrumb(
                    entry_from_loguru(record, with_stack=False, on_logging_thread=True)
                )
            return None
        exception = record["exception"]
        exc_info = None
        if exception is not None and exception.value is not None:
            exc_info = (exception.type, exception.value, exception.traceback)
        # The call's template, not the formatted message: "disk {} full" logged
        # for every disk is one error to flood control, as it is to Sentry.
        call = call_arguments(record) if on_logging_thread else None
        key = (
            record["name"] or "",
            ("" if exc_info is not None else call[0] if call else record["message"]),
            record["file"].path,
            record["line"],
            exc_info,
            record["extra"].get("fingerprint"),
        )
        with_stack = self.options.attach_stacktrace

        def build() -> LogEntry:
            return entry_from_loguru(record, with_stack, on_logging_thread, call)

        if not later:
            _remember_sent(record)
        result = reporter.event(record, key, build, later=later)
        return result if isinstance(result, Pending) else None

    def __repr__(self) -> str:
        target = self.options.dsn.netloc if self.options.dsn else "no DSN"
        return f"<SentrySink {target}>"


def entry_from_loguru(
    record: Mapping[str, Any],
    with_stack: bool,
    on_logging_thread: bool,
    call: Optional[tuple[str, Any]] = None,
) -> LogEntry:
    """Take from a loguru record what an event or breadcrumb needs.

    *call* is the ``(template, params)`` already read from the log call, if any.
    """
    exception = record["exception"]
    exc_info = None
    if exception is not None and exception.value is not None:
        exc_info = (exception.type, exception.value, exception.traceback)
    template: str = record["message"]
    params: Any = None
    if on_logging_thread:
        found = call if call is not None else call_arguments(record)
        if found is not None:
            template, params = found
    stack = None
    if with_stack and exc_info is None and on_logging_thread:
        frame = caller_frame(record["file"].path, record["line"], record["function"])
        if frame is not None:
            stack = freeze_stack(frame)
    return LogEntry(
        record=record,
        logger=record["name"] or "",
        levelno=record["level"].no,
        template=template,
        params=params,
        message=record["message"],
        created=record["time"].timestamp(),
        exc_info=exc_info,
        extra=dict(record["extra"]),
        origin={
            "logger": record["name"],
            "level": record["level"].name,
            "module": record["module"],
            "function": record["function"],
            "file": record["file"].path,
            "line": record["line"],
            "thread": record["thread"].name,
            "process": record["process"].id,
        },
        stack=stack,
    )


def _sink_from_options(options: Options) -> SentrySink:
    """A sink with already parsed options (unpickling in another process)."""
    sink = SentrySink.__new__(SentrySink)
    sink._setup(options)
    return sink
