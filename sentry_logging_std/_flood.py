"""Flood control: the same error a thousand times a second is sent a few times, and counted.

A key names an error the way Sentry groups it (the fingerprint given in
``extra``, else the logger, the message template and where it was raised or
logged). Per key, at most ``limit`` events are sent in each window of
``window`` seconds; the rest are counted, and the count rides on the next
event sent for that key (``contexts.flood_control.suppressed``). The caller
pays one dictionary lookup under a lock. Memory is bounded: at most
``max_keys`` keys are remembered, the least recently seen going first (its
pending count is kept in the totals).

Leaf module: imports nothing from the package above it except the lock.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Hashable
from typing import Optional

from sentry_logging_std._forksafe import ForkSafeLock

__all__ = ["FloodGate", "flood_key"]


class _Window:
    __slots__ = ("sent", "started", "suppressed")

    def __init__(self, started: float) -> None:
        self.started = started
        self.sent = 0
        self.suppressed = 0


class FloodGate:
    """Admits at most *limit* events per key per *window* seconds (``limit=0``: all)."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._keys: collections.OrderedDict[Hashable, _Window] = collections.OrderedDict()
        self._lock = ForkSafeLock()
        #: Events not sent because of the limit, over the gate's life.
        self.suppressed_total = 0
        #: Suppressed counts of keys forgotten before another event carried them.
        self.forgotten_total = 0

    def admit(self, key: Hashable) -> Optional[int]:
        """None if the event is suppressed; else how many were suppressed since the last one."""
        if self.limit <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            state = self._keys.get(key)
            if state is None:
                state = self._keys[key] = _Window(now)
                while len(self._keys) > self.max_keys:
                    _, old = self._keys.popitem(last=False)
                    self.forgotten_total += old.suppressed
            else:
                self._keys.move_to_end(key)
                if now - state.started >= self.window:
                    state.started = now
                    state.sent = 0
            if state.sent >= self.limit:
                state.suppressed += 1
                self.suppressed_total += 1
                return None
            state.sent += 1
            carried, state.suppressed = state.suppressed, 0
            return carried


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
