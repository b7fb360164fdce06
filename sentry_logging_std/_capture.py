"""The core: one log entry, from whichever front door, becomes an event or a breadcrumb.

Front doors (the stdlib handler, the loguru sink) turn their own record type
into a :class:`LogEntry` on the calling thread, taking everything that must be
taken at call time (the exception, the caller's stack). Building the event
from an entry and handing it to sentry-sdk happens here, once for all of them.
"""

from __future__ import annotations

import collections
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Union, cast

import sentry_sdk
from sentry_sdk.scope import use_isolation_scope

from sentry_logging_std._bound import CUT_HINT, SCRUB_MARGIN, cut_event
from sentry_logging_std._client import INITIALIZER, NO_CLIENT, OWN_EVENT_HINT, mark_captured
from sentry_logging_std._flood import FloodGate, Held, release_all_gates
from sentry_logging_std._forksafe import ForkSafeLock
from sentry_logging_std._options import Options
from sentry_logging_std._stacks import (
    FrameKey,
    FrozenFrame,
    exception_values,
    freeze_exception,
    serialize_stack,
)
from sentry_logging_std._tags import sanitize_tag_key, sanitize_tag_value
from sentry_logging_std._worker import WORKER

__all__ = [
    "OWN_EVENT_HINT",
    "RESERVED_EXTRAS",
    "LogEntry",
    "Snapshot",
    "add_breadcrumb",
    "build_event",
    "capture_entry",
    "event_id_for",
    "flood_gate",
    "safe_text",
    "scope_snapshot",
    "send_entry",
    "sentry_level",
]

#: ``extra`` keys with a meaning of their own instead of being context.
RESERVED_EXTRAS = frozenset({"tags", "fingerprint", "user"})

_LEVELS = ((50, "fatal"), (40, "error"), (30, "warning"), (20, "info"))


def safe_text(value: Any) -> str:
    """*value* as text for a message or template: str(), else repr(), else a placeholder."""
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def sentry_level(levelno: int) -> str:
    """Sentry's level for a numeric logging level (custom levels fall in between)."""
    for threshold, name in _LEVELS:
        if levelno >= threshold:
            return name
    return "debug"


# The event id of a record is decided once, by whoever asks first: the handler
# sending it, or a formatter writing the log line that names it. Neither
# changes the record, and the order the two run in does not matter.
_event_ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
# loguru records are dicts, which cannot be weakly referenced: the most recent
# ones are held here by identity (the record kept alive so its id stays its own).
_dict_event_ids: collections.OrderedDict[int, tuple[Any, str]] = collections.OrderedDict()
_MAX_DICT_RECORDS = 4096
_event_ids_lock = ForkSafeLock()


def event_id_for(record: Any) -> str:
    """The Sentry event id that belongs to *record* (made up on first use)."""
    with _event_ids_lock:
        try:
            event_id = _event_ids.get(record)
            if event_id is None:
                event_id = uuid.uuid4().hex
                _event_ids[record] = event_id
        except TypeError:  # not weak-referenceable (a loguru record is a dict)
            pass
        else:
            return event_id
        held = _dict_event_ids.get(id(record))
        if held is not None and held[0] is record:
            return held[1]
        event_id = uuid.uuid4().hex
        _dict_event_ids[id(record)] = (record, event_id)
        while len(_dict_event_ids) > _MAX_DICT_RECORDS:
            _dict_event_ids.popitem(last=False)
        return event_id


@dataclass
class LogEntry:
    """What a front door takes from a record at call time."""

    record: Any
    logger: str
    levelno: int
    template: str
    params: Any
    #: The formatted message, or a function that formats it: a front door that
    #: can leave formatting for later (nothing it is made of can change
    #: meanwhile) passes the function, and whoever reads :attr:`formatted`
    #: first (the capture worker, for an event) pays for it.
    message: Union[str, Callable[[], str]]
    created: float
    exc_info: Optional[tuple[Any, Any, Any]] = None
    extra: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, Any] = field(default_factory=dict)
    #: The caller's stack, frozen at call time (errors without an exception).
    stack: Optional[list[FrozenFrame]] = None
    #: The exception chain's frames, frozen at call time.
    frozen_exception: Optional[dict[FrameKey, list[FrozenFrame]]] = None
    #: Set on the one record flood control kept of a window it held back:
    #: how many others it held back, and when the first and the last were logged.
    flood: Optional[Held] = None

    def __post_init__(self) -> None:
        if self.exc_info is not None and self.frozen_exception is None:
            self.frozen_exception = freeze_exception(self.exc_info[1])

    @property
    def formatted(self) -> str:
        """The formatted message (``record.getMessage()``), made now if it was left for later."""
        message = self.message
        if not isinstance(message, str):
            message = self.message = message()
        return message


def _tags_for(entry: LogEntry, options: Options) -> dict[str, str]:
    tags = dict(options.tags)
    extra = entry.extra
    for key in options.tag_keys:
        if key in extra:
            tags[sanitize_tag_key(key)] = sanitize_tag_value(extra[key])
    record_tags = extra.get("tags")
    if isinstance(record_tags, Mapping):
        try:
            items = list(record_tags.items())
        except Exception:
            WORKER.count(LEFT_OUT)
            items = []
        for key, value in items:
            try:
                name = key if isinstance(key, str) else str(key)
            except Exception:
                WORKER.count(LEFT_OUT)
                continue
            tags[sanitize_tag_key(name)] = sanitize_tag_value(value)
    return tags


def _fingerprint(value: Any) -> Optional[list[str]]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value:
        try:
            return [str(part) for part in value]
        except Exception:
            WORKER.count(LEFT_OUT)  # grouped by Sentry's default rules instead
    return None


def _user(value: Any) -> Optional[dict[str, Any]]:
    if not isinstance(value, Mapping):
        return None
    try:
        return dict(value)
    except Exception:
        WORKER.count(LEFT_OUT)
        return None


#: The count of parts of a record (a tag, the fingerprint, the user) that could
#: not be read (their ``__str__`` or iteration raised): the event goes without them.
LEFT_OUT = "dropped_unreadable_fields"


def build_event(
    entry: LogEntry, options: Options, client_options: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Sentry event and hint for *entry*, every value in it cut to size.

    Cut here, off the calling thread, before anything else reads them (the
    scrubber, sentry-sdk's serialiser): a 10 MB message costs no more than an
    8 KB one from here on, on any client, the application's own included.
    Strings keep :data:`SCRUB_MARGIN` characters past the limit for the
    scrubber; the client this library starts makes the last cut.
    """
    logentry: dict[str, Any] = {"message": entry.template}
    if entry.params:
        logentry["params"] = entry.params
    formatted = entry.formatted
    if formatted is not entry.template and formatted != entry.template:
        # Sent once: Sentry shows "message" as the formatted message when it is
        # all there is (Relay moves it to "formatted").
        logentry["formatted"] = formatted
    event: dict[str, Any] = {
        "event_id": event_id_for(entry.record),
        "level": sentry_level(entry.levelno),
        "logger": entry.logger,
        "logentry": logentry,
        "timestamp": datetime.fromtimestamp(entry.created, timezone.utc),
    }
    tags = _tags_for(entry, options)
    if tags:
        event["tags"] = tags
    contexts: dict[str, Any] = {"log": entry.origin}
    context_extra = {
        key: value
        for key, value in entry.extra.items()
        if key not in RESERVED_EXTRAS and key not in options.tag_keys
    }
    if context_extra:
        contexts["extra"] = context_extra
    if entry.flood is not None:
        contexts["flood_control"] = {
            "suppressed": entry.flood.others,
            "first_held_back": _iso(entry.flood.first),
            "last_held_back": _iso(entry.flood.last),
            "window_seconds": options.flood_window,
            "limit": options.flood_limit,
        }
    event["contexts"] = contexts
    fingerprint = _fingerprint(entry.extra.get("fingerprint"))
    if fingerprint:
        event["fingerprint"] = fingerprint
    user = _user(entry.extra.get("user"))
    if user is not None:
        event["user"] = user
    if entry.exc_info is not None:
        event["exception"] = {
            "values": exception_values(
                entry.exc_info, client_options, "logging", entry.frozen_exception
            )
        }
    elif entry.stack:
        # With "threads" set, sentry-sdk does not attach a stack of its own,
        # which would start inside the logging machinery.
        frames = serialize_stack(entry.stack, client_options)
        event["threads"] = {
            "values": [{"stacktrace": {"frames": frames}, "crashed": False, "current": True}]
        }
    hint = {"log_record": entry.record, OWN_EVENT_HINT: True}
    if entry.exc_info is not None:
        hint["exc_info"] = entry.exc_info
    limits = options.limits
    cuts: dict[str, Any] = {}
    cut_event(event, limits.string_length + SCRUB_MARGIN, limits.items, cuts, shared=True)
    if cuts:
        event["_meta"] = cuts
        hint[CUT_HINT] = cuts
    return event, hint


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def flood_gate(options: Options) -> FloodGate:
    """A front door's flood control: what it holds back is sent, counted, as windows end."""

    def emit(held: Held) -> None:
        entry = held.entry
        entry.flood = held
        send_entry(entry, options, held.scope)

    return FloodGate(options.flood_limit, options.flood_window, emit, WORKER.call_later)


# At exit, every window still open sends what it holds, before the queue drains.
WORKER.before_drain.append(release_all_gates)


class Snapshot:
    """What the logging thread's scopes held when a record was logged.

    The isolation scope is copied whole (its event processors too) with the
    current scope's data laid over it, plus the breadcrumbs that were logged
    in that scope while the client was starting and are not on it yet.
    """

    __slots__ = ("held", "scope")

    def __init__(self) -> None:
        self.scope, self.held = INITIALIZER.with_held_breadcrumbs(_copy_scopes)

    def enter(self) -> Any:
        """The snapshot as the isolation scope to capture in (a context manager)."""
        if self.held:
            # The client is up now (the job runs after its start): the held
            # breadcrumbs can go where they belong, before the event is built.
            held, self.held = self.held, []
            for crumb, hint in held:
                self.scope.add_breadcrumb(crumb, hint=hint)
        return use_isolation_scope(self.scope)


def _copy_scopes() -> Any:
    scope = sentry_sdk.Scope.get_isolation_scope().fork()
    scope.update_from_scope(sentry_sdk.Scope.get_current_scope())
    return scope


def scope_snapshot() -> Snapshot:
    """A :class:`Snapshot` of the calling thread's scopes, taken now."""
    return Snapshot()


Adjust = Callable[[dict[str, Any], dict[str, Any]], None]


def capture_entry(
    entry: LogEntry,
    options: Options,
    scope: Optional[Snapshot] = None,
    adjust: Optional[Adjust] = None,
) -> Optional[str]:
    """Send *entry* as an event; returns the event id, or None if it was dropped.

    *scope* is a snapshot of the logging thread's scopes (:func:`scope_snapshot`),
    for an entry sent from another thread: it becomes the isolation scope while
    the event is captured, event processors included (the request data a web
    integration adds, for one). By default the current scopes apply.
    *adjust*, if given, changes the built event and its hint before the send
    (the web middleware marks a request's crash as unhandled).
    """
    if not INITIALIZER.ensure(options):
        # The client could not start (said once, when it failed): with a
        # spool the event waits there for a process whose client can send
        # it; without one nothing can carry it.
        if options.spool_dir is not None and INITIALIZER.failure is not None:
            return keep_without_client(entry, options, scope)
        WORKER.count(NO_CLIENT)
        return None
    client = sentry_sdk.get_client()
    event, hint = build_event(entry, options, client.options)
    if adjust is not None:
        adjust(event, hint)
    mark_captured(entry.record)
    event_id: Optional[str]
    if scope is None:
        event_id = sentry_sdk.capture_event(cast(Any, event), hint=hint)
    else:
        with scope.enter():
            event_id = sentry_sdk.capture_event(cast(Any, event), hint=hint)
    return event_id


def keep_without_client(
    entry: LogEntry, options: Options, scope: Optional[Snapshot] = None
) -> Optional[str]:
    """Write *entry*'s event to the spool when no client could start.

    Built here as the client would (scrubbed, the user's ``before_send``, cut
    to size; the scope's tags, breadcrumbs and contexts applied), so the spool
    holds what would have been sent; the next process whose client starts
    with this ``spool_dir`` (or ``spool send``) delivers it.
    """
    import platform

    from sentry_sdk.envelope import Envelope
    from sentry_sdk.serializer import serialize

    from sentry_logging_std._spool import Spool

    event, hint = build_event(entry, options, {})
    event.update(
        platform="python",
        environment=options.environment or "production",
        server_name=options.server_name or platform.node(),
    )
    if options.release:
        event["release"] = options.release
    if scope is None:
        scope = scope_snapshot()
    if scope.held:
        event["breadcrumbs"] = {
            "values": [crumb for crumb, _ in scope.held][-options.max_breadcrumbs :]
        }
    prepared = scope.scope.apply_to_event(event, hint)
    if prepared is None:  # an event processor of the scope dropped it
        return None
    prepared = options.event_before_send()(prepared, hint)
    if prepared is None:
        return None
    envelope = Envelope(headers={"event_id": prepared["event_id"]})
    envelope.add_event(cast(Any, serialize(prepared)))
    (result,) = Spool(options.spool_dir or "").write_many([envelope.serialize()])
    if isinstance(result, OSError):
        WORKER.count("dropped_spool_error")
        return None
    WORKER.count(KEPT_WITHOUT_CLIENT)
    return str(prepared["event_id"])


#: Events written to the spool because no client could start.
KEPT_WITHOUT_CLIENT = "spooled_no_client"


def send_entry(
    entry: LogEntry,
    options: Options,
    scope: Optional[Snapshot] = None,
    adjust: Optional[Adjust] = None,
) -> str:
    """Send *entry* as an event, off this thread unless ``capture="sync"``.

    *scope* is a snapshot taken earlier on the logging thread; by default the
    current scopes are snapshotted now. Returns the event's id, decided now
    (the event may still be dropped later by sampling or ``before_send``).
    The client need not be running yet: the worker starts it first
    (:meth:`ClientInitializer.start_soon`).
    """
    if options.capture == "sync":
        return capture_entry(entry, options, scope, adjust) or event_id_for(entry.record)
    if scope is None:
        scope = scope_snapshot()
    mark_captured(entry.record)
    WORKER.submit(
        lambda: capture_entry(entry, options, scope, adjust),
        options.queue_size,
        options.shutdown_timeout,
    )
    return event_id_for(entry.record)


def add_breadcrumb(entry: LogEntry) -> None:
    """Record *entry* as a breadcrumb on the current scope."""
    crumb: dict[str, Any] = {
        "type": "log",
        "category": entry.logger,
        "level": sentry_level(entry.levelno),
        "message": entry.formatted,
        "timestamp": datetime.fromtimestamp(entry.created, timezone.utc),
    }
    data = {key: value for key, value in entry.extra.items() if key not in RESERVED_EXTRAS}
    if data:
        crumb["data"] = data
    hint = {"log_record": entry.record}
    if not INITIALIZER.hold_breadcrumb(crumb, hint):
        sentry_sdk.add_breadcrumb(crumb, hint=hint)
