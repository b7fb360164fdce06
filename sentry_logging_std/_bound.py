"""Bounded events: every string, list and dict cut to limits Sentry accepts, and the event too.

Sentry refuses an event over 1 MB (Relay's ``max_event_size``) and cuts a
message to 8192 characters (Relay's ``MaxChars::Message``) when it gets
there; a 10 MB log message would be carried, scrubbed and serialised whole
only to be refused. So strings are cut to :attr:`Limits.string_length`
characters, lists and dicts to their first :attr:`Limits.items` entries, and
if the serialised event is still over :attr:`Limits.event_bytes`, its least
needed parts are dropped in the order of :data:`DROP_ORDER` until it fits.

Every cut is marked in the event's ``_meta`` the way Relay marks its own
(``relay-event-normalization``'s trimming): a string keeps ``limit - 3``
characters and ``...``, with ``{"": {"len": <original length>, "rem": [["!limit",
"s", <start>, <end>]]}}``; a list or dict cut short gets ``{"": {"len": <original
count>}}``; a dropped value becomes ``null`` with ``{"": {"rem": [["!limit",
"x"]]}}``. The lists that make an event's structure (breadcrumbs, exceptions,
frames) are never cut by count: whole breadcrumbs go only to make the event
fit, exceptions and frames never.

Cutting happens twice, both times off the calling thread: when the event is
built (:func:`cut_event` with :data:`SCRUB_MARGIN` characters more, so that
nothing downstream ever reads a 10 MB string and a secret straddling the limit
is still whole when the scrubber reads it), and last in the ``before_send``
of the client this library starts (:func:`bounding_before_send`: to the
limit, and the event to its size). Input is never changed where it is not
ours: a container with something to cut is copied, and a walk over the
application's objects never raises.

Leaf module: imports nothing from the package (orjson, a dependency, to measure).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

import orjson

__all__ = [
    "CUT_HINT",
    "DEFAULT_LIMITS",
    "DROP_ORDER",
    "SCRUB_MARGIN",
    "Limits",
    "bound_event",
    "bounding_before_send",
    "cut_event",
    "fit_event",
    "json_size",
    "merge_meta",
]

diagnostics = logging.getLogger("sentry_sdk.errors")


@dataclass(frozen=True)
class Limits:
    """How big an event's parts, and the event, may be."""

    #: Characters of any one string: Relay's limit for ``logentry.message`` and
    #: ``logentry.formatted`` (``MaxChars::Message``), the longest of its string limits.
    string_length: int = 8192
    #: Entries of any one list or dict of data (``extra``, contexts, a
    #: breadcrumb's data, a frame's variables, ``logentry.params``).
    items: int = 1000
    #: Bytes of the event as sent (JSON, non-ASCII written as ``\u`` escapes):
    #: Sentry refuses events over "1MB decompressed" (Relay: 1 MiB).
    event_bytes: int = 1_000_000


DEFAULT_LIMITS = Limits()

#: Characters a string cut while the event is built keeps past the limit: a
#: secret that straddles the limit (a token, a card number, a URL's password)
#: is still whole when the scrubber reads it, and the last cut, after
#: scrubbing, goes to the limit. On a client the application started (no
#: last cut of ours) strings stay at most this much longer than the limit.
SCRUB_MARGIN = 1024

#: Hint key under which the event's cuts travel from :func:`cut_event` to the
#: last cut: sentry-sdk's serialiser replaces ``_meta`` when it notes cuts of
#: its own (sentry-sdk 2.0 cuts every string to 1024 bytes), which would lose
#: the original lengths.
CUT_HINT = "sentry_logging_std.cut"

#: What goes, in this order, when the event is still over ``event_bytes`` once
#: its values are cut; each part goes whole, one at a time, until the event fits.
DROP_ORDER = (
    "breadcrumbs' data (oldest breadcrumb first)",
    "frame variables (the earliest exception's first, outermost frame first)",
    "extra: the entries of contexts.extra and extra (biggest first)",
    "breadcrumbs (oldest first)",
    "source lines of frames (in the same order as their variables)",
    "the other contexts, request, user, modules and the like (biggest first)",
)

#: Members never dropped whole to make an event fit: those that name and explain
#: it, and those whose parts go in steps of their own (breadcrumbs, extra, contexts).
_ESSENTIAL = frozenset(
    {
        "_meta",
        "breadcrumbs",
        "contexts",
        "dist",
        "environment",
        "event_id",
        "exception",
        "extra",
        "fingerprint",
        "level",
        "logentry",
        "logger",
        "message",
        "platform",
        "release",
        "sdk",
        "server_name",
        "stacktrace",
        "tags",
        "threads",
        "timestamp",
        "transaction",
        "type",
    }
)
#: Event members whose values are lists of records, each walked for its own data.
_RECORD_LISTS = ("breadcrumbs", "exception", "threads")
_SOURCE_LINES = ("pre_context", "context_line", "post_context")
#: The containers a walk looks into (exactly these types: a subclass may run code of its own).
_CONTAINERS = frozenset({dict, list, tuple})
#: Containers deeper than this are left as they are (the event's size still bounds them).
_MAX_DEPTH = 32
#: Containers one walk looks into at most: shared and cyclic ones are seen once,
#: but a wide enough graph would still be too many.
_MAX_CONTAINERS = 50_000
#: What a ``{"": {"rem": [["!limit", "x"]]}}`` mark adds to an event, about.
_MARK_BYTES = 40
_REMOVED = [["!limit", "x"]]

Meta = dict[str, Any]


# -- marks -------------------------------------------------------------------


def _segment(key: Any) -> str:
    """A path segment of ``_meta``: a dict key or a list index, as text (never raising)."""
    if type(key) is str:
        return key
    try:
        return str(key)
    except Exception:
        return f"<unprintable {type(key).__name__}>"


def _node(meta: Meta, path: Iterable[Any]) -> Meta:
    """The ``_meta`` node of *path*, made on the way."""
    node = meta
    for part in path:
        name = _segment(part)
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    return node


def _note(meta: Meta, path: Iterable[Any], length: int, remark: Optional[list[Any]]) -> None:
    """Mark a value at *path* as cut from *length* (characters, or entries).

    A value cut twice (once with the margin, once to the limit; or by
    sentry-sdk too) keeps the longest length seen, its original one, and the
    remark of the last cut, which describes the value as it now is.
    """
    entry = _node(meta, path).setdefault("", {})
    if not isinstance(entry, dict):  # pragma: no cover - only ever written here
        return
    known = entry.get("len")
    entry["len"] = max(length, known) if isinstance(known, int) else length
    if remark is not None:
        entry["rem"] = [remark]


def _mark_removed(meta: Meta, path: Iterable[Any]) -> None:
    """Mark the value at *path* as dropped (the marks of its parts go with it)."""
    node = _node(meta, path)
    node.clear()
    node[""] = {"rem": [list(r) for r in _REMOVED]}


def merge_meta(into: Meta, other: Any, value: Any) -> None:
    """Lay the marks of *other* over *into*, for the parts *value* still has.

    Each keeps the longest length seen (its original one) and *into*'s
    remarks, which describe the value as it now is; a part gone since (cut
    away by sentry-sdk's own limits) takes its marks with it.
    """
    if not isinstance(other, dict):
        return
    for key, marks in other.items():
        if not isinstance(marks, dict):
            continue
        if key == "":
            entry = into.setdefault("", {})
            if isinstance(entry, dict):
                for name, item in marks.items():
                    known = entry.get(name)
                    if name == "len" and isinstance(item, int) and isinstance(known, int):
                        entry["len"] = max(item, known)
                    else:
                        entry.setdefault(name, item)
            continue
        if isinstance(value, dict):
            if key not in value:
                continue
            part = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            part = value[int(key)]
        else:
            continue
        child = into.get(key)
        if not isinstance(child, dict):
            child = into[key] = {}
        merge_meta(child, marks, part)


# -- cutting values ----------------------------------------------------------


class _Walk:
    """One walk over an event's values: strings and containers cut, cuts noted in *meta*."""

    __slots__ = ("budget", "chars", "items", "keep", "meta", "path", "seen")

    def __init__(self, chars: int, items: int, meta: Meta, shared: bool) -> None:
        self.chars = chars
        self.keep = max(0, chars - 3)
        self.items = items
        self.meta = meta
        self.path: list[Any] = []
        #: With *shared*, the containers walked so far, by id: the container (kept,
        #: so that its id stays its own) and what it became. None for an event
        #: sentry-sdk has serialised (a tree: every container its own).
        self.seen: Optional[dict[int, tuple[Any, Any]]] = {} if shared else None
        self.budget = _MAX_CONTAINERS

    def text(self, value: str) -> str:
        """*value* cut to the limit, as Relay cuts: ``keep`` characters and ``...``."""
        _note(self.meta, self.path, len(value), ["!limit", "s", self.keep, self.keep + 3])
        return value[: self.keep] + "..."

    def value(self, value: Any, depth: int = 0) -> Any:
        """*value* with its strings and containers cut: the same object when nothing was."""
        kind = type(value)
        if kind is str:
            return self.text(value) if len(value) > self.chars else value
        if kind in _CONTAINERS:
            if depth >= _MAX_DEPTH or self.budget <= 0:
                return value
            self.budget -= 1
            seen = self.seen
            if seen is None:
                return self._dict(value, depth) if kind is dict else self._sequence(value, depth)
            known = seen.get(id(value))
            if known is not None and known[0] is value:
                return known[1]  # shared (seen already) or a cycle (still being walked)
            seen[id(value)] = (value, value)
            try:
                result = self._dict(value, depth) if kind is dict else self._sequence(value, depth)
            except Exception:  # changed while read (another thread's object): left as it is
                result = value
            seen[id(value)] = (value, result)
            return result
        return value

    def _child(self, key: Any, item: Any, depth: int) -> Any:
        """*item* (under *key*) cut; the callers have seen it is long text or a container
        (tested inline: most members of an event are neither, and a call per member would
        be most of the walk's cost)."""
        self.path.append(key)
        try:
            return self.value(item, depth + 1)
        finally:
            self.path.pop()

    def _changed(self, pairs: Iterable[tuple[Any, Any]], depth: int) -> Optional[dict[Any, Any]]:
        """The cut members of *pairs* (key or index -> new value), or None if none changed."""
        changed: Optional[dict[Any, Any]] = None
        chars = self.chars
        for key, item in pairs:
            kind = type(item)
            if kind is str:
                if len(item) <= chars:
                    continue
            elif kind not in _CONTAINERS:
                continue
            new = self._child(key, item, depth)
            if new is not item:
                if changed is None:
                    changed = {}
                changed[key] = new
        return changed

    def _dict(self, value: dict[Any, Any], depth: int) -> dict[Any, Any]:
        count = len(value)
        pairs = (
            value.items() if count <= self.items else itertools.islice(value.items(), self.items)
        )
        changed = self._changed(pairs, depth)
        if count > self.items:
            _note(self.meta, self.path, count, None)
            result = dict(itertools.islice(value.items(), self.items))
        elif changed is None:
            return value
        else:
            result = dict(value)
        if changed:
            result.update(changed)
        return result

    def _sequence(self, value: Any, depth: int) -> Any:
        count = len(value)
        kept = value if count <= self.items else value[: self.items]
        changed = self._changed(enumerate(kept), depth)
        if count > self.items:
            _note(self.meta, self.path, count, None)
        elif changed is None:
            return value
        result = list(kept)
        for index, new in (changed or {}).items():
            result[index] = new
        return result

    def members(
        self, record: dict[str, Any], path: tuple[Any, ...], skip: Iterable[str] = ()
    ) -> None:
        """Cut the members of *record* (a dict of ours: changed in place), but *skip*."""
        changed: Optional[dict[str, Any]] = None
        chars = self.chars
        for key, item in record.items():
            kind = type(item)
            if kind is str:
                if len(item) <= chars:
                    continue
            elif kind not in _CONTAINERS or key in skip:
                continue
            if changed is None:
                changed = {}
                self.path = list(path)
            new = self._child(key, item, -1)
            if new is not item:
                changed[key] = new
        if changed:
            record.update(changed)


def cut_event(
    event: dict[str, Any], chars: int, items: int, meta: Meta, shared: bool = False
) -> None:
    """Cut every string of *event* to *chars* characters and its data to *items* entries.

    In place for the event's own structure (its members, breadcrumbs,
    exceptions, threads and frames: built for this send); below that,
    containers are copied where something is cut, never changed. The lists
    of records themselves are not cut by count. Cuts are noted in *meta*.
    *shared*: the event holds the application's objects (``extra`` values),
    which may be shared, cyclic, or changed by another thread while read:
    each is walked once, and one that changes is left as it is.
    """
    walk = _Walk(chars, items, meta, shared)
    walk.members(event, (), skip=("_meta", "stacktrace", *_RECORD_LISTS))
    for name in _RECORD_LISTS:
        holder = event.get(name)
        if not isinstance(holder, dict):
            continue
        walk.members(holder, (name,), skip=("values",))
        values = holder.get("values")
        if not isinstance(values, list):
            continue
        for index, record in enumerate(values):
            if isinstance(record, dict):
                path = (name, "values", index)
                walk.members(record, path, skip=("stacktrace",))
                _cut_stack(walk, record.get("stacktrace"), (*path, "stacktrace"))
    _cut_stack(walk, event.get("stacktrace"), ("stacktrace",))


def _cut_stack(walk: _Walk, stack: Any, path: tuple[Any, ...]) -> None:
    """A stack's members, and each of its frames' (never the frames by count)."""
    if not isinstance(stack, dict):
        return
    walk.members(stack, path, skip=("frames",))
    frames = stack.get("frames")
    if isinstance(frames, list):
        for index, frame in enumerate(frames):
            if isinstance(frame, dict):
                walk.members(frame, (*path, "frames", index))


# -- the event's size ----------------------------------------------------------

#: Each byte of UTF-8 as what its escape adds when sentry-sdk writes the event
#: (``json.dumps`` with ``ensure_ascii``): the lead byte of two bytes becomes
#: ``\uXXXX`` ("2": 4 more), of three ``\uXXXX`` ("3": 3 more), of four a
#: surrogate pair ("4": 8 more); any other byte adds nothing ("0").
_ESCAPES = bytes(b"0" * 0xC0 + b"2" * 32 + b"3" * 16 + b"4" * 8 + b"0" * 8)


def _text_of(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def json_size(value: Any) -> Optional[int]:
    """Bytes of *value* as sentry-sdk writes it (compact JSON, non-ASCII escaped).

    orjson writes it in microseconds; where it writes UTF-8, the escapes'
    extra bytes are counted from the lead bytes. None if it cannot be written.
    """
    try:
        data = orjson.dumps(value, default=_text_of, option=orjson.OPT_NON_STR_KEYS)
    except Exception:  # an int beyond 64 bits, a lone surrogate, too deep
        try:
            return len(json.dumps(value, separators=(",", ":"), default=_text_of))
        except Exception:
            return None
    if data.isascii():
        return len(data)
    leads = data.translate(_ESCAPES)
    return len(data) + 4 * leads.count(b"2") + 3 * leads.count(b"3") + 8 * leads.count(b"4")


def _measured(event: dict[str, Any], meta: Meta) -> Optional[int]:
    """The event's size with its marks (which count towards it too)."""
    if meta:
        event["_meta"] = meta
    return json_size(event)


Place = tuple[Any, Any, tuple[Any, ...]]


def _frames(event: dict[str, Any]) -> Iterator[tuple[dict[str, Any], tuple[Any, ...]]]:
    """Every frame with its path: the event's stack, the exceptions' in order, then the
    threads', each stack from its outermost frame in."""
    stacks: list[tuple[Any, tuple[Any, ...]]] = [(event.get("stacktrace"), ("stacktrace",))]
    for name in ("exception", "threads"):
        holder = event.get(name)
        values = holder.get("values") if isinstance(holder, dict) else None
        for number, item in enumerate(values if isinstance(values, list) else ()):
            if isinstance(item, dict):
                stacks.append((item.get("stacktrace"), (name, "values", number, "stacktrace")))
    for stack, path in stacks:
        frames = stack.get("frames") if isinstance(stack, dict) else None
        for index, frame in enumerate(frames if isinstance(frames, list) else ()):
            if isinstance(frame, dict):
                yield frame, (*path, "frames", index)


def _crumbs(event: dict[str, Any]) -> list[Any]:
    holder = event.get("breadcrumbs")
    values = holder.get("values") if isinstance(holder, dict) else None
    return values if isinstance(values, list) else []


def _crumb_data(event: dict[str, Any]) -> Iterator[Place]:
    for index, crumb in enumerate(_crumbs(event)):
        if isinstance(crumb, dict) and "data" in crumb:
            yield crumb, "data", ("breadcrumbs", "values", index, "data")


def _frame_vars(event: dict[str, Any]) -> Iterator[Place]:
    for frame, path in _frames(event):
        if "vars" in frame:
            yield frame, "vars", (*path, "vars")


def _extra(event: dict[str, Any]) -> Iterator[Place]:
    contexts = event.get("contexts")
    for holder, path in (
        (contexts.get("extra") if isinstance(contexts, dict) else None, ("contexts", "extra")),
        (event.get("extra"), ("extra",)),
    ):
        if isinstance(holder, dict):
            for key in holder:
                yield holder, key, (*path, key)


def _source_lines(event: dict[str, Any]) -> Iterator[Place]:
    for frame, path in _frames(event):
        for name in _SOURCE_LINES:
            if name in frame:
                yield frame, name, (*path, name)


def _the_rest(event: dict[str, Any]) -> Iterator[Place]:
    contexts = event.get("contexts")
    if isinstance(contexts, dict):
        for key in contexts:
            yield contexts, key, ("contexts", key)
    for key in event:
        if key not in _ESSENTIAL:
            yield event, key, (key,)


def _drop(
    event: dict[str, Any],
    meta: Meta,
    size: int,
    limit: int,
    places: Iterable[Place],
    biggest_first: bool,
) -> Optional[int]:
    """Drop the values at *places*, in order (or the biggest first), until the event fits."""
    candidates = []
    for holder, key, path in places:
        value = holder[key]
        if value is not None:
            candidates.append((json_size(value) or 0, holder, key, path))
    if biggest_first:
        candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    for cost, holder, key, path in candidates:
        if size <= limit:
            break
        holder[key] = None
        _mark_removed(meta, path)
        size -= cost - _MARK_BYTES
    return _measured(event, meta)


def _drop_crumbs(event: dict[str, Any], meta: Meta, size: int, limit: int) -> Optional[int]:
    """Drop whole breadcrumbs, oldest first, until the event fits; the marks of the
    ones kept move with them, and the list says how long it was."""
    crumbs = _crumbs(event)
    count = 0
    for crumb in crumbs:
        if size <= limit:
            break
        size -= (json_size(crumb) or 0) + 1
        count += 1
    if count:
        original = len(crumbs)
        del crumbs[:count]
        node = _node(meta, ("breadcrumbs", "values"))
        kept = {
            str(int(key) - count): child
            for key, child in node.items()
            if key.isdigit() and int(key) >= count
        }
        entry = node.get("")
        node.clear()
        node.update(kept)
        if isinstance(entry, dict):
            node[""] = entry
        _note(meta, ("breadcrumbs", "values"), original, None)
    return _measured(event, meta)


Step = Callable[[dict[str, Any], Meta, int, int], Optional[int]]

#: The steps of :data:`DROP_ORDER`, in its order.
_STEPS: tuple[Step, ...] = (
    lambda event, meta, size, limit: _drop(event, meta, size, limit, _crumb_data(event), False),
    lambda event, meta, size, limit: _drop(event, meta, size, limit, _frame_vars(event), False),
    lambda event, meta, size, limit: _drop(event, meta, size, limit, _extra(event), True),
    _drop_crumbs,
    lambda event, meta, size, limit: _drop(event, meta, size, limit, _source_lines(event), False),
    lambda event, meta, size, limit: _drop(event, meta, size, limit, _the_rest(event), True),
)


def fit_event(event: dict[str, Any], limit: int, meta: Meta) -> bool:
    """Drop parts of *event*, in the order of :data:`DROP_ORDER`, until its JSON
    (marks included) is at most *limit* bytes; True if it fits."""
    size = _measured(event, meta)
    for step in _STEPS:
        if size is None:
            return False
        if size <= limit:
            return True
        size = step(event, meta, size, limit)
    return size is not None and size <= limit


def bound_event(event: Any, hint: Any, limits: Limits) -> None:
    """The last cut of an event about to be sent (JSON values only): to the limits, in place.

    The cuts made while it was built (carried in the hint) are laid over
    the ``_meta`` it has now, so that each keeps its original length.
    """
    if not isinstance(event, dict):
        return
    meta = event.get("_meta")
    if not isinstance(meta, dict):
        meta = {}
    if isinstance(hint, dict):
        merge_meta(meta, hint.get(CUT_HINT), event)
    cut_event(event, limits.string_length, limits.items, meta)
    if not fit_event(event, limits.event_bytes, meta):
        diagnostics.warning(
            "sentry-logging-std: event %s is still over %d bytes with every part that "
            "can go dropped; sent as it is",
            event.get("event_id"),
            limits.event_bytes,
        )
    if meta:
        event["_meta"] = meta


def bounding_before_send(
    limits: Limits, inner: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any]:
    """sentry-sdk's ``before_send``: *inner* (scrubbing, then the user's), then the last cut.

    Last, so that whatever the steps before it added is bounded too. An event
    that cannot be cut (a bug here) is sent as it is and the error reported
    (printed with ``debug=True``): the server decides, nothing is lost silently.
    """

    def before_send(event: Any, hint: Any) -> Any:
        event = inner(event, hint)
        if event is None:
            return None
        try:
            bound_event(event, hint, limits)
        except Exception:
            diagnostics.warning(
                "sentry-logging-std: an event could not be cut to size; sent as it is",
                exc_info=True,
            )
        return event

    return before_send
