"""The one sentry-sdk client: started lazily, exactly once, from validated options.

The client is process-wide (sentry-sdk keeps it in its global scope), so the
initialiser is too. Front doors register their options when they are built;
the first record that needs a client (or an explicit ``init()``) starts it,
under a lock, however many threads race. If the application already started
sentry-sdk itself, that client is used as it is: never re-initialised, never
replaced.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import re
import sys
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.scope import add_global_event_processor

from sentry_logging_std._forksafe import ForkSafeLock, after_fork_in_child, before_fork
from sentry_logging_std._registry import FRONT_DOORS
from sentry_logging_std._structlog_keys import EVENT_ID_KEY
from sentry_logging_std._worker import WORKER, exiting

if TYPE_CHECKING:
    from sentry_logging_std._options import Options
    from sentry_logging_std._scrub import ScrubPolicy

__all__ = [
    "INITIALIZER",
    "OWN_EVENT_HINT",
    "ClientInitializer",
    "delivery_stats",
    "mark_captured",
    "reported_elsewhere",
    "was_captured",
]

diagnostics = logging.getLogger("sentry_sdk.errors")

T = TypeVar("T")

#: Hint key set on every event this library captures.
OWN_EVENT_HINT = "sentry_logging_std"

# Records this library has already turned into events. sentry-sdk's own
# logging integration, when the application enabled it, sees the same record
# after the handler did and would capture it a second time; the event
# processor below drops that second event.
_captured: weakref.WeakSet[Any] = weakref.WeakSet()
# Records that cannot be weakly referenced (a structlog event dict, which a
# stdlib logger then carries as a record's ``msg``): the most recent ones, by
# identity, each kept alive so that its id stays its own.
_captured_dicts: collections.OrderedDict[int, Any] = collections.OrderedDict()
_MAX_CAPTURED_DICTS = 1024
_captured_lock = ForkSafeLock()


def mark_captured(record: Any) -> None:
    """Remember that *record* was reported, so no other path reports it again."""
    with _captured_lock:
        if type(record) is not dict:
            try:
                _captured.add(record)
            except TypeError:  # not weak-referenceable: remembered by identity
                pass
            else:
                return
        _captured_dicts[id(record)] = record
        while len(_captured_dicts) > _MAX_CAPTURED_DICTS:
            _captured_dicts.popitem(last=False)


def was_captured(record: Any) -> bool:
    """Whether *record* has already been reported by this library."""
    with _captured_lock:
        if type(record) is dict:  # (a WeakSet answers False for what it cannot hold)
            return _captured_dicts.get(id(record)) is record
        return record in _captured or _captured_dicts.get(id(record)) is record


def reported_elsewhere(record: Any) -> bool:
    """Whether a stdlib *record* is one this library reported already, itself or as
    the structlog event dict it was made from (its ``msg``, with structlog's
    ``ProcessorFormatter.wrap_for_formatter``; its ``sentry_event_id``
    attribute, with ``render_to_log_kwargs``)."""
    if was_captured(record):
        return True
    msg = getattr(record, "msg", None)
    if type(msg) is dict:
        return was_captured(msg) or EVENT_ID_KEY in msg
    return EVENT_ID_KEY in getattr(record, "__dict__", {})


def _drop_duplicate_log_events(event: Any, hint: Any) -> Any:
    if not hint or hint.get(OWN_EVENT_HINT):
        return event
    record = hint.get("log_record")
    if record is None or not reported_elsewhere(record):
        return event
    return None


add_global_event_processor(_drop_duplicate_log_events)


#: The isolation scope of the request being served in this context, whose
#: event processor (the web middleware's) scrubs every event of the request
#: in full, after the processors before it: the global pass would be done twice.
REQUEST_SCRUBS: contextvars.ContextVar[Optional[Any]] = contextvars.ContextVar(
    "sentry_logging_std.request_scrubs", default=None
)


def _scrub_for_application_client(event: Any, hint: Any) -> Any:
    """Scrub events of a client the application started (ours scrub in before_send).

    Global processors run before the scopes' own (a web integration's request
    data, for one): on such a client this is the earliest place this library
    can reach, not the last. The client this library starts scrubs in
    ``before_send``, after every processor. Inside a request served by the
    web middleware, whose processor on the request's isolation scope scrubs
    the whole event later, this pass is left to it.
    """
    if INITIALIZER.owns_client or INITIALIZER.scrub_policy is None:
        return event
    try:
        request_scope = REQUEST_SCRUBS.get()
        if request_scope is not None and request_scope is sentry_sdk.Scope.get_isolation_scope():
            return event
        return INITIALIZER.scrub_policy.event(event)
    except Exception:
        return None  # a secret must not leave unscrubbed


add_global_event_processor(_scrub_for_application_client)


class ClientInitializer:
    """Starts the sentry-sdk client at most once per process."""

    def __init__(self) -> None:
        self._lock = ForkSafeLock(reentrant=True)
        self._pending: Optional[Options] = None
        self._initializing = False
        self._finished = False
        self._owned_client: Any = None
        self._owned_transport: Any = None
        self.failure: Optional[str] = None
        # Never held while the client starts: a logging thread only ever
        # waits for a few list operations here.
        self._start_lock = ForkSafeLock()
        self._start_queued = False
        self._started_at_exit = False
        self._starter: Optional[threading.Thread] = None
        #: Breadcrumbs logged while the client starts on the capture worker,
        #: with the isolation scope each belongs to (sentry-sdk drops a
        #: breadcrumb when no client is active); None when no start is pending.
        self._held: Optional[collections.deque[tuple[Any, dict[str, Any], dict[str, Any]]]] = None

    @property
    def lowest_event_level(self) -> float:
        """The lowest event level of any front door built so far (below: never an event)."""
        return FRONT_DOORS.lowest_event_level

    @property
    def scrub_policy(self) -> Optional[ScrubPolicy]:
        """The scrubbing policy of the first front door built, for events of a client
        the application started itself."""
        policy: Optional[ScrubPolicy] = FRONT_DOORS.scrub_policy
        return policy

    def register(self, options: Options) -> None:
        """Remember *options* for code that needs a client but has no options."""
        FRONT_DOORS.register(options.event_level, options.scrub)
        if options.dsn is not None and self._pending is None:
            self._pending = options
            # The client may start while the interpreter exits (a script that
            # logs its error and ends): by then, a module that registers a
            # threading exit hook when imported (concurrent.futures' thread
            # pool, which integrations import) fails to import. Imported now,
            # it is there already (0.2 ms: sentry-sdk imports its package).
            import concurrent.futures.thread  # noqa: F401

    def idle(self, options: Options) -> bool:
        """True when there is nothing to send with: the per-record fast path.

        No DSN in *options*, none registered by another front door, and no
        client started by the application (``sentry_sdk.init`` puts it on the
        global scope, the cheapest place to look).
        """
        return (
            options.dsn is None
            and self._pending is None
            and not sentry_sdk.Scope.get_global_scope().client.is_active()
        )

    def _to_start(self, options: Optional[Options]) -> Union[bool, Options]:
        """Whether a client runs (True) or never will (False), else the options to start it with."""
        if sentry_sdk.get_client().is_active():
            return True
        if self._finished:
            # Started once and closed since (by the application or at exit):
            # never bring it back behind the application's back.
            return False
        chosen = options if options is not None and options.dsn is not None else self._pending
        return False if chosen is None else chosen

    def start_soon(self, options: Optional[Options] = None) -> bool:
        """Whether a client is active or starting; never starts one on this thread.

        The first record that needs a client starts it on a thread of its own
        (sentry-sdk's ``init`` costs tens of milliseconds: integrations,
        threads, the spool): the calling thread pays for starting a thread.
        Records logged meanwhile are taken as usual; the capture worker
        builds them once the client is up. That thread is not a daemon: an
        exit that begins meanwhile waits for the start (sentry-sdk cannot
        start once the exit has begun), then drains as usual.
        """
        chosen = self._to_start(options)
        if isinstance(chosen, bool):
            return chosen
        if self._start_queued:
            return True
        with self._start_lock:
            if self._queued():  # another thread got here first
                return True
            self._start_queued = True
            self._held = collections.deque(maxlen=HELD_BREADCRUMBS)
        starter = threading.Thread(
            # An empty context, like the capture worker's: sentry-sdk's
            # threading integration would copy this request's scopes.
            target=contextvars.Context().run,
            args=(self.ensure, chosen),
            name="sentry-logging-std.start",
        )
        try:
            starter.start()
        except RuntimeError:  # no new threads (the interpreter is shutting down)
            return self.ensure(chosen)
        self._starter = starter
        return True

    def can_send(self, options: Options, levelno: int) -> bool:
        """Whether a record at *levelno* for *options* can be sent: :meth:`start_soon`,
        or, with ``capture="sync"`` (the caller pays for everything), :meth:`ensure`.

        An event that cannot be, because the client failed to start, is
        counted (``dropped_no_client``).
        """
        ready = self.ensure(options) if options.capture == "sync" else self.start_soon(options)
        if not ready and self.failure is not None and levelno >= options.event_level:
            WORKER.count(NO_CLIENT)
        return ready

    def hold_breadcrumb(self, crumb: dict[str, Any], hint: dict[str, Any]) -> bool:
        """Keep *crumb* for the client being started; False if none is pending (add it now)."""
        if self._held is None:
            return False
        with self._start_lock:
            held = self._holding()  # read again: the start may have ended
            if held is None:
                return False
            held.append((sentry_sdk.Scope.get_isolation_scope(), crumb, hint))
            return True

    def with_held_breadcrumbs(self, take: Callable[[], T]) -> tuple[T, list[tuple[Any, Any]]]:
        """``take()`` (a snapshot of the scopes) and the breadcrumbs held for
        this context's isolation scope, oldest first, taken together: a
        breadcrumb is in exactly one of the two, whenever the start ends."""
        if self._held is None:
            return take(), []
        with self._start_lock:
            taken = take()
            held = self._holding()  # read again: the start may have ended
            if held is None:
                return taken, []
            scope = sentry_sdk.Scope.get_isolation_scope()
            return taken, [(crumb, hint) for owner, crumb, hint in held if owner is scope]

    def _queued(self) -> bool:
        return self._start_queued

    def _holding(self) -> Optional[collections.deque[tuple[Any, dict[str, Any], dict[str, Any]]]]:
        return self._held

    def _release_held(self, started: bool) -> None:
        """Put the held breadcrumbs on their scopes, in order, now that a client runs."""
        with self._start_lock:
            held, self._held = self._held, None
            if not started or not held:
                return
            # Under the lock: a breadcrumb logged now waits, and lands after these.
            for scope, crumb, hint in held:
                try:
                    scope.add_breadcrumb(crumb, hint=hint)
                except Exception:
                    diagnostics.debug("sentry-logging-std: a breadcrumb was lost", exc_info=True)

    def ensure(self, options: Optional[Options] = None) -> bool:
        """Return whether a client is active, starting one from *options* if needed.

        Starts it on the calling thread: for ``init()``, ``capture="sync"``
        and the start thread of :meth:`start_soon` (a capture job that finds
        the start under way waits here, on the lock, until it ends).
        """
        chosen = self._to_start(options)
        if isinstance(chosen, bool):
            return chosen
        with self._lock:
            if sentry_sdk.get_client().is_active():
                return True
            if self._finished or self._initializing:
                # _initializing: this very thread, logging from inside init.
                return False
            self._initializing = True
            try:
                with warnings.catch_warnings():
                    # sentry-sdk 2.7x deprecates send_default_pii in favour of
                    # data_collection, which older 2.x releases do not know;
                    # the handler's option means the same on all of them.
                    warnings.filterwarnings(
                        "ignore", message=".*send_default_pii", category=DeprecationWarning
                    )
                    sentry_sdk.init(**chosen.client_kwargs())
            except Exception as exc:
                self.failure = f"{type(exc).__name__}: {exc}"
                WORKER.count(START_FAILED)
                say_start_failed(self.failure, chosen)
                if chosen.spool_dir is None:
                    self._release_held(started=False)
                # else breadcrumbs stay held, for the events kept in the spool
                # (sentry-sdk drops a breadcrumb while no client is active)
                return False
            finally:
                self._initializing = False
                self._finished = True
            self._owned_client = sentry_sdk.get_client()
            # Kept apart: closing the client lets go of its transport, whose
            # counts (what was kept in the spool at exit) still matter then.
            self._owned_transport = getattr(self._owned_client, "transport", None)
            # sentry-sdk's exit hook, registered by init, closes the client:
            # the worker's drain must run before it (exit hooks run last first).
            # One registered during the exit never runs: the drain flushes then.
            self._started_at_exit = exiting()
            WORKER.register_exit_hook()
            self._release_held(started=True)
        return True

    def client(self) -> Any:
        """The active sentry-sdk client, or None."""
        client = sentry_sdk.get_client()
        return client if client.is_active() else None

    def transport(self) -> Any:
        """The active client's transport, else the one of the client this library started."""
        client = self.client()
        if client is not None and getattr(client, "transport", None) is not None:
            return client.transport
        return self._owned_transport

    @property
    def running(self) -> bool:
        """Whether a sentry-sdk client (ours or the application's) is active."""
        return bool(sentry_sdk.get_client().is_active())

    @property
    def owns_client(self) -> bool:
        """Whether the active client is the one this library started."""
        client = sentry_sdk.get_client()
        return self._owned_client is not None and client is self._owned_client

    def records_breadcrumbs_elsewhere(self) -> bool:
        """Whether sentry-sdk's logging integration already records breadcrumbs.

        True only for a client the application started with that integration
        enabled; the client this library starts always has it silenced.
        """
        if self.owns_client:
            return False
        return sentry_sdk.get_client().get_integration(LoggingIntegration) is not None

    def flush(self, timeout: float) -> None:
        """Wait for a start under way, then for the client's transport; *timeout* in all."""
        deadline = time.monotonic() + timeout
        starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join(timeout)
        if self.owns_client:
            sentry_sdk.flush(timeout=max(0.0, deadline - time.monotonic()))

    def _flush_after_late_start(self, remaining: float) -> None:
        if self._started_at_exit and self.owns_client:
            sentry_sdk.flush(timeout=remaining)

    def _before_fork(self) -> None:
        # The start imports modules as it goes; forked in the middle, the
        # child would find them half-imported (ImportError) or their import
        # locks held for ever. The fork waits for the start instead, once.
        starter = self._starter
        if starter is not None and starter is not threading.current_thread():
            starter.join(START_WAIT_AT_FORK)

    def _after_fork(self) -> None:
        # A start under way in the parent runs on a parent's thread, which
        # the child does not have: the child starts its own.
        if self._initializing or not self._finished:
            self._initializing = False
            self._finished = False
            self._start_queued = False
            self._starter = None
            self._held = None

    def reset(self) -> None:
        """Forget everything (for tests that start a new client each time)."""
        with self._lock:
            self._pending = None
            self._initializing = False
            self._finished = False
            self._owned_client = None
            self._owned_transport = None
            self.failure = None
            self._start_queued = False
            self._started_at_exit = False
            self._starter = None
            self._held = None
            FRONT_DOORS.reset()


#: The count of events dropped because the client could not be started.
NO_CLIENT = "dropped_no_client"
#: Counted once when sentry-sdk's ``init`` failed (the reason is on stderr).
START_FAILED = "client_start_failed"

_UNKNOWN_OPTION = re.compile(r"[Uu]nknown option '?([A-Za-z_][A-Za-z0-9_]*)")


def say_start_failed(failure: str, options: Options) -> None:
    """Say on stderr, whatever ``debug`` is, that the client could not start, why,
    and what to change: every event of the process depends on it."""
    diagnostics.warning("sentry-logging-std: sentry_sdk.init failed: %s", failure)
    unknown = _UNKNOWN_OPTION.search(failure)
    if unknown:
        advice = (
            f"sentry-sdk {sentry_sdk.VERSION} does not accept the option {unknown.group(1)!r}:"
            " install a sentry-sdk this release supports (see the README's compatibility"
            " section) or leave that option out"
        )
    else:
        advice = (
            "check the handler's options; `python -m sentry_logging_std check` tries the same start"
        )
    if options.spool_dir is not None:
        kept = f"events are kept in the spool {options.spool_dir} until a client can send them"
    else:
        kept = "no event will be sent by this process (stats(): dropped_no_client)"
    try:
        if sys.stderr is not None:
            sys.stderr.write(
                f"sentry-logging-std: the Sentry client could not start: {failure}\n"
                f"  {advice};\n  {kept}.\n"
            )
            sys.stderr.flush()
    except Exception:  # noqa: S110 - stderr itself is broken: nowhere left to say it
        pass


#: The longest a fork waits for a client start under way.
START_WAIT_AT_FORK = 10.0

#: The most breadcrumbs held while the client starts (sentry-sdk keeps 100 a scope).
HELD_BREADCRUMBS = 200

INITIALIZER = ClientInitializer()

before_fork(INITIALIZER._before_fork)
after_fork_in_child(INITIALIZER._after_fork)
WORKER.after_drain.append(INITIALIZER._flush_after_late_start)


def delivery_stats(options: Options, suppressed_flood: int) -> dict[str, int]:
    """What a front door reports from ``stats()``: sent, dropped by reason, pending.

    The counts of the transport (this library's own: empty for another), of
    the capture worker, of the front door's flood gate and of its scrubbing.
    """
    stats = getattr(INITIALIZER.transport(), "stats", None)
    counts = dict(stats()) if callable(stats) else {}
    for key, value in WORKER.stats().items():
        if value:  # both count dropped_at_exit: what each could not do in time
            counts[key] = counts.get(key, 0) + value
    if suppressed_flood:
        counts["suppressed_flood"] = suppressed_flood
    counts.update({k: v for k, v in options.scrub.counts.items() if v})
    return counts
