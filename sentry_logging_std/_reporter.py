"""Reporter: the one core every front door hands its log entries to.

A front door (the stdlib handler, the loguru sink, the structlog processor,
the web middlewares' crash path) turns its own record into a
:class:`~sentry_logging_std._capture.LogEntry` and calls one method here. A
reporter owns, for one configuration, the sequence every door shares:

    level gate -> lazy client start -> dedupe across doors -> flood control
        -> entry built (by the door) -> capture worker -> sentry-sdk -> transport

and the door's ``init()``, ``running``, ``stats()`` and ``flush()``.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any, Callable, Optional, Union

import sentry_sdk

from sentry_logging_std._capture import (
    Adjust,
    LogEntry,
    Snapshot,
    add_breadcrumb,
    capture_entry,
    event_id_for,
    flood_gate,
    scope_snapshot,
    send_entry,
)
from sentry_logging_std._client import (
    INITIALIZER,
    delivery_stats,
    mark_captured,
    reported_elsewhere,
)
from sentry_logging_std._flood import Held, flood_key
from sentry_logging_std._options import Options
from sentry_logging_std._structlog_keys import EVENT_ID_KEY
from sentry_logging_std._worker import WORKER

__all__ = ["FloodKey", "FrontDoor", "Pending", "Reporter", "client_ready", "report_failure"]

#: What flood control tells one error from another by: the logger, the call's
#: template, the file and line, the exception (its type and where it was
#: raised), and an explicit fingerprint (see :func:`._flood.flood_key`).
FloodKey = tuple[str, Any, str, int, Optional[tuple[Any, Any, Any]], Any]


class Pending:
    """An event taken at call time, to be sent later from another thread."""

    __slots__ = ("entry", "scope")

    def __init__(self, entry: LogEntry, scope: Snapshot) -> None:
        self.entry = entry
        self.scope = scope


class Reporter:
    """What one front door's configuration reports through.

    *integration* is the sentry-sdk integration class that, on a client the
    application started, records this door's breadcrumbs itself (the door then
    adds none); None when no integration sees this door's records.
    """

    def __init__(self, options: Options, integration: Optional[type] = None) -> None:
        self.options = options
        #: The id of the last event handed on (or held back to be sent), or None.
        self.last_event_id: Optional[str] = None
        self._integration = integration
        self._flood = flood_gate(options)
        INITIALIZER.register(options)

    @property
    def options(self) -> Options:
        """The configuration reported under."""
        return self._options

    @options.setter
    def options(self, options: Options) -> None:
        self._options = options
        #: The lowest level that matters: below it a record costs one comparison.
        self.threshold = min(options.event_level, options.breadcrumb_level)

    # -- the per-record path --------------------------------------------------------------

    def wants(self, levelno: int) -> bool:
        """The fast path: whether a record at *levelno* can lead anywhere at all."""
        return levelno >= self.threshold and not INITIALIZER.idle(self.options)

    def ready(self, levelno: int) -> bool:
        """Whether a record at *levelno* is to be taken: above the threshold, and a
        client runs or is starting (the first record that needs one starts it, off
        this thread). An event that cannot be sent for want of a client is counted."""
        return levelno >= self.threshold and INITIALIZER.can_send(self.options, levelno)

    def is_event(self, levelno: int) -> bool:
        """Whether a record at *levelno* becomes an event (else a breadcrumb)."""
        return levelno >= self.options.event_level

    def event(
        self,
        record: Any,
        key: FloodKey,
        build: Callable[[], LogEntry],
        later: bool = False,
    ) -> Union[str, Pending, None]:
        """Report *record* as an event; *build* makes its entry (on this thread).

        Returns the event id, or None when flood control only counted it. A
        record another door or the web middleware sent already is not sent
        again (its id is returned). With *later*, an entry to send is not sent
        but returned as a :class:`Pending` with a snapshot of this thread's
        scopes, for :meth:`send` on another thread.
        """
        if reported_elsewhere(record):
            event_id = self.last_event_id = _reported_id(record)
            return event_id
        verdict = self._flood.admit(flood_key(*key))
        if verdict is None:
            return None
        entry = build()
        if isinstance(verdict, Held):  # held back: sent with the window's count when it ends
            self._flood.keep(verdict, entry, scope_snapshot())
            mark_captured(record)  # to be sent: no other door sends it meanwhile
            event_id = self.last_event_id = event_id_for(record)
            return event_id
        if later:
            return Pending(entry, scope_snapshot())
        return self.send(entry)

    def send(self, entry: LogEntry, scope: Optional[Snapshot] = None) -> str:
        """Hand *entry* to the capture worker (or capture it now with ``capture="sync"``)."""
        event_id = self.last_event_id = send_entry(entry, self.options, scope)
        return event_id

    def crash(self, record: Any, build: Callable[[], LogEntry], adjust: Adjust) -> Optional[str]:
        """Send a web request's unhandled exception, changed by *adjust* once built.

        Whatever the levels: a request that crashed is always an event, never
        held back by flood control, so its answer names its own event. The
        record is marked as sent first: a SentryHandler it is logged to next
        does not send it again. None when no client can send it, or, with
        ``capture="sync"``, when the event was dropped (sampling, ``before_send``).
        """
        if not INITIALIZER.can_send(self.options, max(self.options.event_level, 40)):
            return None
        entry = build()
        mark_captured(record)
        if self.options.capture == "sync":
            return capture_entry(entry, self.options, adjust=adjust)
        event_id = self.last_event_id = send_entry(entry, self.options, adjust=adjust)
        return event_id

    def mark_reported(self, record: Any) -> None:
        """Remember *record* as reported, so that no other door reports it again."""
        mark_captured(record)

    def breadcrumb(self, entry: LogEntry) -> None:
        """Record *entry* as a breadcrumb, unless the application's client has an
        integration recording this door's breadcrumbs already."""
        if not reported_elsewhere(entry.record) and not self._recorded_elsewhere():
            add_breadcrumb(entry)

    def _recorded_elsewhere(self) -> bool:
        integration = self._integration
        if integration is None or INITIALIZER.owns_client:
            return False
        if sentry_sdk.get_client().get_integration(integration) is None:
            return False
        # loguru's integration records none when its level is None.
        return getattr(integration, "level", 0) is not None

    # -- what every front door offers -----------------------------------------------------

    def init(self) -> bool:
        """Start the client now instead of on the first record; True if one is running."""
        return INITIALIZER.ensure(self.options)

    @property
    def running(self) -> bool:
        """Whether a sentry-sdk client (this library's or the application's) is active."""
        return INITIALIZER.running

    def stats(self) -> dict[str, int]:
        """Counts of envelopes sent and dropped (by reason), and of those pending."""
        return delivery_stats(self.options, self._flood.suppressed_total)

    def flush(self, timeout: Optional[float] = None) -> None:
        """Send what flood control holds back (with its counts), then wait, at most
        *timeout* (default ``shutdown_timeout``) in all, for queued events to be built
        and sent."""
        limit = self.options.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        self._flood.release()
        WORKER.flush(limit)
        INITIALIZER.flush(max(0.0, deadline - time.monotonic()))


class FrontDoor:
    """What every front door offers, from its reporter: ``options``, ``last_event_id``,
    ``init()``, ``running`` and ``stats()`` (``flush()`` differs by door)."""

    _reporter: Reporter

    @property
    def options(self) -> Options:
        """The front door's validated options."""
        return self._reporter.options

    @options.setter
    def options(self, options: Options) -> None:
        self._reporter.options = options

    @property
    def last_event_id(self) -> Optional[str]:
        """The id of the last event this front door handed to sentry-sdk, or None."""
        return self._reporter.last_event_id

    def init(self) -> bool:
        """Start the client now instead of on the first record; True if one is running."""
        return self._reporter.init()

    @property
    def running(self) -> bool:
        """Whether a sentry-sdk client is active for this front door to send through."""
        return self._reporter.running

    def stats(self) -> dict[str, int]:
        """Counts of envelopes sent and dropped (by reason), and of those pending.

        Empty when the client's transport is not one of this library's.
        """
        return self._reporter.stats()


def report_failure(door: str) -> None:
    """Say on stderr that *door* failed on a record, with the error being handled
    (as ``logging.Handler.handleError`` does): never raised into the application."""
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"--- sentry-logging-std: {door} failed ---\n")
            traceback.print_exc(file=sys.stderr)
        except Exception:  # noqa: S110 - stderr itself is broken: nowhere left to report
            pass


def _reported_id(record: Any) -> str:
    """The id of the event *record* was reported as: the structlog event dict's it was
    made from, or its own."""
    msg = getattr(record, "msg", None)
    found = msg.get(EVENT_ID_KEY) if type(msg) is dict else None
    if found is None:
        found = getattr(record, "__dict__", {}).get(EVENT_ID_KEY)
    return found if isinstance(found, str) else event_id_for(record)


def client_ready(options: Optional[Options] = None) -> bool:
    """Whether a client runs, starting one now (on this thread) from *options*, or from
    the first front door's, if none does yet."""
    return INITIALIZER.ensure(options)
