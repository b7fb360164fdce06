"""The capture worker: events are built, serialised and sent off the logging threads.

A log call takes only what must be taken then — the record's data, the
exception, the frozen stack and a snapshot of the scope — and hands a job to
this worker, one thread per process. Building the event (the exception
chain's frames and variables, up to 100 breadcrumbs, the serialisation) costs
milliseconds; the calling thread pays microseconds.

The queue is bounded (the ``queue_size`` option): when it is full a new job
is dropped and counted, so a burst keeps its first events, usually its
cause. Every few milliseconds the worker hands the GIL over, so a burst
never keeps the application's threads waiting. After ``fork`` the child
starts with an empty queue and no thread — what the parent queued is the
parent's to send — and at interpreter exit the queue is drained, within
``shutdown_timeout``, before sentry-sdk closes its client.
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import heapq
import itertools
import logging
import threading
import time
from typing import Any, Callable, Optional

from sentry_logging_std._forksafe import after_fork_in_child

__all__ = ["WORKER", "CaptureWorker", "exit_deadline", "exiting", "on_capture_thread"]

diagnostics = logging.getLogger("sentry_sdk.errors")

Job = Callable[[], Any]

#: When the interpreter's exit began (monotonic), plus ``shutdown_timeout``:
#: the whole exit — this worker's drain, then sentry-sdk closing the client
#: and its transport flushing — has one budget. None until exit.
_exit_by: Optional[float] = None


def exit_deadline(deadline: float) -> float:
    """*deadline*, or the exit's own if the interpreter is exiting and that comes first."""
    by = _exit_by
    return deadline if by is None else min(deadline, by)


def exiting() -> bool:
    """Whether the interpreter's exit has begun (this worker's drain started)."""
    return _exit_by is not None


def on_capture_thread() -> bool:
    """Whether the calling thread is the capture worker's (a transport may make it
    wait for its writer there; never on an application's thread)."""
    return threading.current_thread() is WORKER._thread


class CaptureWorker:
    """Runs capture jobs in order on one daemon thread."""

    def __init__(self, max_pending: int = 1000) -> None:
        self.max_pending = max_pending
        #: The longest ``shutdown_timeout`` of the front doors that submitted jobs.
        self.exit_timeout: Optional[float] = None
        self._exit_hook_registered = False
        #: Called at exit before the queue is drained (what flood control
        #: holds back is queued then, and drained with the rest).
        self.before_drain: list[Callable[[], None]] = []
        #: Called at exit once the queue is drained, with the seconds left
        #: of the budget (a client started during the exit is flushed there:
        #: sentry-sdk's own exit hook, registered that late, never runs).
        self.after_drain: list[Callable[[float], None]] = []
        self._reset()

    def _reset(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._jobs: collections.deque[Job] = collections.deque()
        #: Jobs to queue later: (monotonic time, order, job), soonest first.
        self._timers: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self._running = 0
        self._thread: threading.Thread | None = None
        self._counts: collections.Counter[str] = collections.Counter()
        #: Set when the exit's budget ran out: queued jobs were dropped and
        #: counted, later ones run on the thread that submits them.
        self._closed = False
        #: How many queued jobs the exit dropped.
        self._late = 0

    def submit(self, job: Job, max_pending: int, exit_timeout: float) -> None:
        """Queue *job*; never blocks. If *max_pending* are waiting, *job* is dropped
        and counted: a burst keeps its first events.

        If no thread can be started (the interpreter is shutting down, which
        Python 3.12+ refuses new threads for), the job runs here and now.
        """
        with self._condition:
            self.max_pending = max_pending
            if self.exit_timeout is None or exit_timeout > self.exit_timeout:
                self.exit_timeout = exit_timeout
            if self._closed or (self._thread is None and not self._start()):
                inline = True
            else:
                inline = False
                if len(self._jobs) >= max_pending:
                    # A burst keeps its first errors (usually the cause) and
                    # counts the ones that came after the queue filled up.
                    self._counts["dropped_capture_queue_full"] += 1
                else:
                    self._jobs.append(job)
                    self._condition.notify()
        if inline:
            try:
                job()
            except Exception:
                self._counts["capture_errors"] += 1
                diagnostics.exception("sentry-logging-std: building an event failed")

    def call_later(self, delay: float, job: Job) -> None:
        """Queue *job* about *delay* seconds from now (flood control's window ends).

        Timers are not jobs: :meth:`flush` does not wait for them, and the
        exit and a fork forget them (whoever set one sends what it was for
        there).
        """
        with self._condition:
            if self._closed or (self._thread is None and not self._start()):
                return
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), job))
            self._condition.notify()

    def register_exit_hook(self) -> None:
        """Make the exit's drain run before every exit hook registered so far.

        Exit hooks run last registered first, and sentry-sdk's closes the
        client: called after ``sentry_sdk.init``, whichever thread ran it.
        """
        atexit.unregister(self._drain_at_exit)
        atexit.register(self._drain_at_exit)
        self._exit_hook_registered = True

    def _start(self) -> bool:
        if not self._exit_hook_registered:
            # A client the application started is older than this thread;
            # one this library starts re-registers the hook after its init.
            self.register_exit_hook()
        # The thread runs in an empty context: sentry-sdk's threading
        # integration would otherwise hand it copies of the scopes of
        # whichever request happened to start it, and every job would carry
        # that request's data. Each job brings its own scope snapshot.
        thread = threading.Thread(
            target=contextvars.Context().run,
            args=(self._run,),
            name="sentry-logging-std.capture",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError:
            return False
        self._thread = thread
        return True

    def _run(self) -> None:
        slice_start = time.monotonic()
        while True:
            now = time.monotonic()
            if now - slice_start >= YIELD_EVERY:
                # Hand the GIL over. Building events is CPU-bound, but it
                # also makes small system calls that release and retake the
                # GIL; each one resets the interval after which a waiting
                # thread may ask for it, so an application thread (or the
                # exiting main thread) waking from I/O could wait behind a
                # whole burst. A real sleep lets it in.
                time.sleep(YIELD_FOR)
                slice_start = time.monotonic()
            with self._condition:
                if not self._jobs:
                    while not self._jobs:
                        next_timer = self._queue_due_timers()
                        if not self._jobs:
                            self._condition.wait(next_timer)
                    slice_start = time.monotonic()
                elif self._timers:
                    self._queue_due_timers()
                if _exit_by is not None and time.monotonic() >= _exit_by:
                    # The exit's budget is spent: this thread stops building
                    # here rather than leave the exiting thread to notice.
                    # Building is CPU-bound, and a thread that keeps the GIL
                    # busy can starve the exiting thread's wake-up for a
                    # second or more (seen on Python 3.9).
                    self._close_locked()
                    continue
                job = self._jobs.popleft()
                self._running += 1
            try:
                job()
            except Exception:
                self._counts["capture_errors"] += 1
                diagnostics.exception("sentry-logging-std: building an event failed")
            finally:
                with self._condition:
                    self._running -= 1
                    if not self._jobs and not self._running:
                        # Only an idle worker wakes the flushers: a wake-up
                        # per job would make them fight this thread for the GIL.
                        self._condition.notify_all()

    def _queue_due_timers(self) -> Optional[float]:
        """Queue the timers that are due; the seconds until the next one, or None."""
        timers = self._timers
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            self._jobs.append(heapq.heappop(timers)[2])
        return timers[0][0] - now if timers else None

    def _close_locked(self) -> None:
        """Drop and count what is queued; later jobs run on their submitting thread."""
        if not self._closed:
            self._closed = True
            self._late = len(self._jobs)
            self._counts["dropped_at_exit"] += self._late
            self._jobs.clear()
            self._timers.clear()
        self._condition.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait at most *timeout* seconds for every queued job; True if all ran."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._jobs or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def count(self, reason: str, n: int = 1) -> None:
        """Count *n* under *reason* in this process's capture counts (``stats()``)."""
        with self._condition:
            self._counts[reason] += n

    def pending(self) -> int:
        with self._condition:
            return len(self._jobs) + self._running

    def stats(self) -> dict[str, int]:
        with self._condition:
            return {**self._counts, "capture_pending": len(self._jobs) + self._running}

    def clear_counts(self) -> None:
        """Start counting drops and errors from zero (the counts are per process)."""
        with self._condition:
            self._counts.clear()

    def _drain_at_exit(self) -> None:
        try:
            for release in self.before_drain:
                try:
                    release()
                except Exception:
                    diagnostics.debug("sentry-logging-std: exit step failed", exc_info=True)
            self._drain()
        finally:
            for callback in self.after_drain:
                try:
                    callback(max(0.0, (_exit_by or 0.0) - time.monotonic()))
                except Exception:
                    diagnostics.debug("sentry-logging-std: exit step failed", exc_info=True)

    def _drain(self) -> None:
        global _exit_by
        budget = 2.0 if self.exit_timeout is None else self.exit_timeout
        _exit_by = time.monotonic() + budget
        done = self.flush(budget)
        with self._condition:
            if done and not self._closed:
                return
            # What was not built in time is dropped now, and counted once:
            # a job left in the queue would be built while sentry-sdk closes
            # the client, and end up on disk or nowhere, counted either way.
            self._close_locked()
            late = self._late
            # The job being built takes milliseconds: let it reach the transport.
            wait_until = time.monotonic() + RUNNING_JOB_WAIT
            while self._running and time.monotonic() < wait_until:
                self._condition.wait(wait_until - time.monotonic())
            late += self._running
            self._counts["dropped_at_exit"] += self._running
        diagnostics.warning(
            "sentry-logging-std: %d event(s) not built before exit (%gs)",
            late,
            budget,
        )


#: How long the exit waits, past its budget, for the one event being built.
RUNNING_JOB_WAIT = 1.0
#: The longest the worker builds events before it hands the GIL over, and
#: for how long: a thread waiting for the GIL waits at most about this long
#: behind a burst (it was up to 0.7 s), for about 5% of the worker's speed.
YIELD_EVERY = 0.005
YIELD_FOR = 0.0002


WORKER = CaptureWorker()

after_fork_in_child(WORKER._reset)
