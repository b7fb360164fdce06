"""Locks that a forked child can use.

``fork`` copies a process with only the thread that called it. A lock some
other thread (the capture worker, the transport) held at that moment stays
held in the child forever, and the child's first log call would wait on it.
Every lock of this package is created through :class:`ForkSafeLock`, which
the child replaces with a fresh one right after the fork (gunicorn --preload,
multiprocessing's fork start method, celery prefork).

The interpreter's own per-module import locks are not renewed after fork.
A package thread that imports a module at the moment of a fork leaves that
module's lock held in the child, and the child's next import of it waits
forever. The sending thread's first connection imports the ``idna`` codec
(``socket.getaddrinfo`` encodes the host name with it), so that codec is
loaded here, on the importing thread, before any thread of this package
starts. The client itself starts on a thread of its own, importing
sentry-sdk's integrations as it goes: a fork waits for that start to end
(:func:`before_fork`), so a child never inherits a half-imported module.

Leaf module: imports nothing from the package.
"""

from __future__ import annotations

import codecs
import os
import threading
import weakref
from types import TracebackType
from typing import Callable, Optional

__all__ = ["ForkSafeLock", "after_fork_in_child", "before_fork"]

# Loaded now, not lazily by a sending thread: see the module's docstring.
codecs.lookup("idna")

_locks: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()


class ForkSafeLock:
    """A lock (or re-entrant lock) that is new again in a child process after fork."""

    __slots__ = ("__weakref__", "_factory", "_lock")

    def __init__(self, reentrant: bool = False) -> None:
        self._factory: Callable[[], threading.Lock | threading.RLock] = (
            threading.RLock if reentrant else threading.Lock
        )
        self._lock = self._factory()
        _locks.add(self)

    def _renew(self) -> None:
        self._lock = self._factory()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._lock.__exit__(exc_type, exc, tb)


def after_fork_in_child(callback: Callable[[], None]) -> None:
    """Run *callback* in every child right after a fork (no-op where fork does not exist)."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=callback)


def before_fork(callback: Callable[[], None]) -> None:
    """Run *callback* in the parent just before every fork, on the forking thread."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=callback)


def _renew_all() -> None:
    for lock in list(_locks):
        lock._renew()


after_fork_in_child(_renew_all)
