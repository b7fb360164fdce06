"""Flood control: the same error a thousand times a second is sent a few times, and counted.

A key names an error the way Sentry groups it (the fingerprint given in
``extra``, else the logger, the message template and where it was raised or
logged). Per key, at most ``limit`` events are sent in each window of
``window`` seconds. The first record held back in a window is kept whole
(the front door builds its entry, as for a sent one); every later one costs
the caller one dictionary lookup under a lock and is counted. When the window
ends, or at flush, close or exit, the kept record is sent with the count of
the others (``contexts.flood_control``): one more event per window, grouped
with its siblings, that tells the server how many there were.

Memory is bounded: at most ``max_keys`` keys are remembered, the least
recently seen going first (its kept record is sent then).

Leaf module: imports nothing from the package above it except the lock.
"""

from __future__ import annotations

import collections
import time
import weakref
from collections.abc import Hashable
from typing import Any, Callable, Optional, Union

from sentry_logging_std._forksafe import ForkSafeLock, after_fork_in_child

__all__ = ["SEND", "FloodGate", "Held", "flood_key", "release_all_gates"]


class _Send:
    __slots__ = ()

    def __repr__(self) -> str:
        return "SEND"


#: :meth:`FloodGate.admit`'s answer for a record to send as usual.
SEND = _Send()


class Held:
    """What one key's window held back: the first such record, and a count of the rest."""

    __slots__ = ("closed", "entry", "first", "last", "others", "scope")

    def __init__(self, now: float) -> None:
        #: The kept record's entry and scope snapshot (None until the front door keeps it).
        self.entry: Any = None
        self.scope: Any = None
        #: Records held back in the window besides the kept one.
        self.others = 0
        #: Wall-clock times of the kept record and of the last one held back.
        self.first = now
        self.last = now
        #: The window ended (or was released): whoever sees both this and the
        #: entry sends it, exactly once.
        self.closed = False


class _Window:
    __slots__ = ("held", "sent", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.sent = 0
        self.held: Optional[Held] = None


Emit = Callable[[Held], None]
Schedule = Callable[[float, Callable[[], None]], None]

_gates: weakref.WeakSet[FloodGate] = weakref.WeakSet()


class FloodGate:
    """Admits at most *limit* events per key per *window* seconds (``limit=0``: all).

    *emit* sends a window's :class:`Held` (kept record and count) once it
    closes; *schedule(delay, call)* runs *call* about *delay* seconds later,
    off the calling thread (the window's end).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        emit: Emit,
        schedule: Schedule,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._emit = emit
        self._schedule = schedule
        self._keys: collections.OrderedDict[Hashable, _Window] = collections.OrderedDict()
        self._lock = ForkSafeLock()
        #: Records not sent as events of their own (only counted on a kept one).
        self.suppressed_total = 0
        _gates.add(self)

    def admit(self, key: Hashable) -> Union[_Send, Held, None]:
        """:data:`SEND` to send the record; a :class:`Held` to pass to :meth:`keep`
        with the record's entry (the first one held back in this window); None if
        it is held back and counted."""
        if self.limit <= 0:
            return SEND
        now = time.monotonic()
        due: list[Held] = []
        with self._lock:
            state = self._keys.get(key)
            if state is None:
                state = self._keys[key] = _Window(now)
                while len(self._keys) > self.max_keys:
                    _, old = self._keys.popitem(last=False)
                    self._close_locked(old, due)
            else:
                self._keys.move_to_end(key)
                if now - state.started >= self.window:
                    self._close_locked(state, due)
                    state.started = now
                    state.sent = 0
            if state.sent < self.limit:
                state.sent += 1
                verdict: Union[_Send, Held, None] = SEND
            elif state.held is None:
                verdict = state.held = Held(time.time())
                ends_in = state.started + self.window - now
            else:
                state.held.others += 1
                state.held.last = time.time()
                self.suppressed_total += 1
                verdict = None
        self._send(due)
        if isinstance(verdict, Held):
            self._schedule(ends_in, lambda: self._close(key, verdict))
        return verdict

    def keep(self, held: Held, entry: Any, scope: Any) -> None:
        """Keep *entry* (and its scope snapshot) as the record *held* stands for."""
        with self._lock:
            held.entry, held.scope = entry, scope
            due = held.closed  # the window ended while the entry was being built
        if due:
            self._send([held])

    def release(self) -> None:
        """Send every kept record now, with its count (flush, close, exit)."""
        due: list[Held] = []
        with self._lock:
            for state in self._keys.values():
                self._close_locked(state, due)
        self._send(due)

    def reset(self) -> None:
        """Forget every window (a forked child: what the parent held is the parent's)."""
        with self._lock:
            self._keys.clear()

    def _close(self, key: Hashable, held: Held) -> None:
        due: list[Held] = []
        with self._lock:
            state = self._keys.get(key)
            if state is not None and state.held is held:
                self._close_locked(state, due)
        self._send(due)

    @staticmethod
    def _close_locked(state: _Window, due: list[Held]) -> None:
        held = state.held
        if held is None:
            return
        state.held = None
        held.closed = True
        if held.entry is not None:
            due.append(held)
        # else the front door is still building the entry: keep() sends it

    def _send(self, due: list[Held]) -> None:
        for held in due:
            self._emit(held)


def release_all_gates() -> None:
    """:meth:`FloodGate.release` on every gate of this process (the exit)."""
    for gate in list(_gates):
        gate.release()


def _reset_all_gates() -> None:
    for gate in list(_gates):
        gate.reset()


after_fork_in_child(_reset_all_gates)


def flood_key(
    logger: str,
    template: object,
    pathname: str,
    lineno: int,
    exc_info: Optional[tuple[object, object, object]],
    fingerprint: object = None,
) -> Hashable:
    """The key an event is counted under: what Sentry would group it by, cheaply."""
    if isinstance(fingerprint, (list, tuple)) and fingerprint:
        parts = _printable(fingerprint)
        if parts is not None:  # else the event is grouped (and counted) without it
            return ("fingerprint", *parts)
    if isinstance(fingerprint, str):
        return ("fingerprint", fingerprint)
    if exc_info is not None:
        tb = exc_info[2]
        while getattr(tb, "tb_next", None) is not None:
            tb = tb.tb_next  # type: ignore[attr-defined]
        frame = getattr(tb, "tb_frame", None)
        where = (frame.f_code.co_filename, tb.tb_lineno) if frame is not None else ("", 0)  # type: ignore[attr-defined]
        return ("exception", logger, getattr(exc_info[0], "__qualname__", ""), *where)
    return ("message", logger, template if isinstance(template, str) else "", pathname, lineno)


def _printable(parts: object) -> Optional[tuple[str, ...]]:
    try:
        return tuple(str(part) for part in parts)  # type: ignore[attr-defined]
    except Exception:
        return None
