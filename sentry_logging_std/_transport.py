"""Sending envelopes to a Sentry-protocol server, with a deadline on every send.

Two transports, both ``sentry_sdk.transport.Transport`` subclasses:

- :class:`BackgroundTransport` (the default) queues envelopes in a bounded queue
  and sends them from one worker thread, so a log call never waits for the
  network. The worker starts lazily and is recreated after ``fork``.
- :class:`SyncTransport` sends on the calling thread and gives up after
  ``transport_timeout`` seconds.
- :class:`SpoolTransport` (with ``spool_dir``) writes every envelope to a
  durable spool (``_spool``) before sending it, keeps what could not be
  delivered (unreachable, timeout, 5xx, 429) and resends it with capped
  exponential backoff, in this process or after a restart. Without a DSN it
  only writes, for ``python -m sentry_logging_std spool send`` to deliver.

Both honour rate limits per data category (a server that refuses transactions
for a day must not stop error events), count what they could not deliver and
why (:meth:`stats`), and report failures on the ``sentry_sdk.errors`` logger,
which sentry-sdk prints when ``debug=True``.
"""

from __future__ import annotations

import collections
import gzip
import http.client
import io
import logging
import math
import os
import random
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from sentry_logging_std._forksafe import ForkSafeLock, after_fork_in_child
from sentry_logging_std._spool import Spool
from sentry_logging_std._worker import exit_deadline, on_capture_thread

if TYPE_CHECKING:
    from sentry_logging_std._options import Dsn, Options

__all__ = [
    "BackgroundTransport",
    "SendResult",
    "SpoolTransport",
    "SyncTransport",
    "make_transport",
    "prepare_stored",
    "retryable",
    "send_envelope",
]

#: sentry-sdk prints this logger's records to stderr when ``debug=True``; the
#: handler never turns its records into events (see ``_handler.IGNORED_LOGGERS``).
diagnostics = logging.getLogger("sentry_sdk.errors")

try:
    _VERSION = version("sentry-logging-std")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
CLIENT_NAME = f"sentry_logging_std/{_VERSION}"

_DEFAULT_RETRY_AFTER = 60.0
#: The longest a server's ``Retry-After`` or rate limit is obeyed: a longer one
#: (a day's quota, a garbled header, 99999999999) means "try again in an hour".
RETRY_AFTER_MAX = 3600.0
_SEND_CHUNK = 64 * 1024


@dataclass(frozen=True)
class SendResult:
    """What became of one HTTP send."""

    status: Optional[int]  # None when no HTTP answer came back
    body: bytes = b""
    error: str = ""
    retry_after: float = 0.0
    rate_limits: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return f"could not reach the server ({self.error})"
        text = self.body[:200].decode("utf-8", "replace").strip()
        return f"HTTP {self.status} {text}".strip()


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with sentry-sdk
        return ssl.create_default_context()


class _DeadlineReader(io.RawIOBase):
    """Reads from a socket, each read limited to the time left before the deadline."""

    def __init__(self, sock: _DeadlineSocket) -> None:
        super().__init__()
        self._owner = sock
        # The socket's own file object: it keeps the socket open until the
        # answer has been read, even after the connection let go of it.
        self._raw = sock.socket.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._owner.socket.settimeout(self._owner.left())
        return int(self._raw.readinto(buffer) or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """A connected socket whose every send and read ends by one deadline.

    A socket timeout bounds each operation, not their sum: a server that
    answers a byte at a time would hold a send for as long as it likes. Here
    each operation gets only what is left of the send's whole time.
    """

    def __init__(self, sock: Any, deadline: float) -> None:
        self.socket = sock
        self._deadline = deadline

    def left(self) -> float:
        """The time left, or ``socket.timeout`` once there is none."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        return left

    def sendall(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        while view:
            self.socket.settimeout(self.left())
            sent = self.socket.send(view[:_SEND_CHUNK])
            view = view[sent:]

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.socket, name)


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection that keeps to one deadline from connect to the last byte."""

    def __init__(
        self, host: str, port: Optional[int], deadline: float, context: Optional[ssl.SSLContext]
    ) -> None:
        default = 443 if context is not None else 80
        super().__init__(host, port or default, timeout=max(0.001, deadline - time.monotonic()))
        self._deadline = deadline
        self._context = context

    def connect(self) -> None:
        self.timeout = max(0.001, self._deadline - time.monotonic())
        super().connect()
        sock: Any = self.sock
        if self._context is not None:
            sock.settimeout(max(0.001, self._deadline - time.monotonic()))
            sock = self._context.wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(sock, self._deadline)


def send_envelope(dsn: Dsn, body: bytes, timeout: float) -> SendResult:
    """POST one serialised envelope; never raises, never takes longer than *timeout*.

    The deadline covers the whole exchange — connecting, the TLS handshake,
    sending and reading the answer — however slowly the other side trickles.
    (Resolving a host name is the one step no socket option bounds.) Once the
    interpreter is exiting, the exit's budget (``shutdown_timeout``) bounds it
    too, whichever thread sends.
    """
    deadline = exit_deadline(time.monotonic() + timeout)
    context = _ssl_context() if dsn.scheme == "https" else None
    connection = _Connection(dsn.host, dsn.port, deadline, context)
    try:
        payload = gzip.compress(body, compresslevel=6)
        connection.request(
            "POST",
            dsn.envelope_path,
            body=payload,
            headers={
                "Content-Type": "application/x-sentry-envelope",
                "Content-Encoding": "gzip",
                "X-Sentry-Auth": dsn.auth_header(CLIENT_NAME),
                "User-Agent": CLIENT_NAME,
            },
        )
        response = connection.getresponse()
        answer = response.read(64 * 1024)
        return SendResult(
            status=response.status,
            body=answer,
            retry_after=_retry_after(response.getheader("Retry-After")),
            rate_limits=response.getheader("X-Sentry-Rate-Limits") or "",
        )
    except (TimeoutError, socket.timeout):
        return SendResult(status=None, error=f"timed out after {timeout:g}s")
    except (OSError, http.client.HTTPException) as exc:
        return SendResult(status=None, error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def clamp_delay(seconds: float) -> float:
    """A delay a server asked for, made sane: 0 when negative, at most RETRY_AFTER_MAX,
    the default when not a number (nan)."""
    if math.isnan(seconds):
        return _DEFAULT_RETRY_AFTER
    return min(RETRY_AFTER_MAX, max(0.0, seconds))


def _retry_after(header: Optional[str]) -> float:
    """``Retry-After`` in seconds (a number or an HTTP date); never raises."""
    if not header:
        return 0.0
    try:
        return clamp_delay(float(header))
    except ValueError:
        pass
    try:
        return clamp_delay(parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError, IndexError):
        return _DEFAULT_RETRY_AFTER


class _RateLimits:
    """Per-category "do not send before" times, from 429s and rate-limit headers."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def update(self, result: SendResult) -> None:
        now = time.monotonic()
        if result.rate_limits:
            for limit in result.rate_limits.split(","):
                seconds, _, rest = limit.strip().partition(":")
                categories = rest.partition(":")[0]
                try:
                    delay = clamp_delay(float(seconds))
                except ValueError:
                    continue
                for category in categories.split(";") if categories else ["*"]:
                    self._until[category or "*"] = now + delay
        elif result.status == 429:
            self._until["*"] = now + clamp_delay(result.retry_after or _DEFAULT_RETRY_AFTER)

    def blocked(self, category: str) -> bool:
        return self.remaining(category) > 0

    def remaining(self, category: str) -> float:
        """Seconds until *category* may be sent again (0 when it may now)."""
        now = time.monotonic()
        until = max(self._until.get(category, 0.0), self._until.get("*", 0.0))
        return max(0.0, until - now)


#: Items of these categories are events: when rate-limited, a spool keeps them
#: until the limit passes. Other categories (transactions, sessions, ...) are
#: dropped and counted, as without a spool.
EVENT_CATEGORIES = frozenset({"error", "default"})


def retryable(result: SendResult) -> bool:
    """Whether a failed send may succeed later unchanged: no answer, 408, 429, 5xx."""
    return result.status is None or result.status in (408, 429) or result.status >= 500


def prepare_stored(envelope: Envelope) -> Envelope:
    """A stored envelope as it is sent now: no DSN of its own, ``sent_at`` now.

    The server takes the key from the auth header of the DSN that sends it;
    ``sent_at`` is what it uses to correct clock drift, so it must be the time
    of this send, not of the first attempt.
    """
    headers = {k: v for k, v in envelope.headers.items() if k != "dsn"}
    headers["sent_at"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return Envelope(headers=headers, items=envelope.items)


class _Sender:
    """Shared by both transports: filter by rate limits, send, count, report."""

    def __init__(self, dsn: Dsn, timeout: float) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.limits = _RateLimits()
        self.counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = ForkSafeLock()

    def count(self, reason: str, n: int = 1) -> None:
        with self._counts_lock:
            self.counts[reason] += n

    def send(self, envelope: Envelope) -> bool:
        """Send once; True when the server could not be reached or asked to wait (back off)."""
        items = [item for item in envelope.items if not self.limits.blocked(item.data_category)]
        dropped = len(envelope.items) - len(items)
        if dropped:
            self.count("dropped_rate_limited", dropped)
        if not items:
            return False
        if dropped:
            envelope = Envelope(headers=envelope.headers, items=items)
        result = send_envelope(self.dsn, envelope.serialize(), self.timeout)
        self.limits.update(result)
        if result.accepted:
            self.count("sent")
            return False
        self.count(_failure_reason(result))
        diagnostics.warning(
            "sentry-logging-std: envelope to %s not delivered: %s",
            self.dsn.netloc,
            result.describe(),
        )
        return retryable(result) and result.status != 429  # 429: the rate limits hold it

    def attempt(self, envelope: Envelope) -> Union[tuple[bool, float], SendResult]:
        """Send a stored envelope, or decide without sending: ``(True, 0)`` when it
        may leave the spool, ``(False, seconds)`` to keep it for at least *seconds*;
        the server's answer (for :meth:`settle`) when it was sent."""
        wait = max(
            (
                self.limits.remaining(item.data_category)
                for item in envelope.items
                if item.data_category in EVENT_CATEGORIES
            ),
            default=0.0,
        )
        if wait > 0:
            return False, wait
        items = [item for item in envelope.items if not self.limits.blocked(item.data_category)]
        dropped = len(envelope.items) - len(items)
        if dropped:
            self.count("dropped_rate_limited", dropped)
        if not items:
            return True, 0.0
        prepared = prepare_stored(Envelope(headers=envelope.headers, items=items))
        return send_envelope(self.dsn, prepared.serialize(), self.timeout)

    def settle(self, result: SendResult) -> tuple[bool, float, str]:
        """Count a stored envelope's answer: ``(True, 0, note)`` when it may leave
        the spool (delivered, or refused for good), ``(False, seconds, note)`` to
        keep it and try again after at least *seconds*; *note* is what to report
        (empty when delivered)."""
        self.limits.update(result)
        if result.accepted:
            self.count("sent")
            return True, 0.0, ""
        reason = _failure_reason(result)
        if retryable(result):
            self.count("deferred_" + reason[len("dropped_") :])
            return False, result.retry_after, "not delivered yet, kept in the spool"
        self.count(reason)
        return True, 0.0, "refused, removed from the spool"


def _failure_reason(result: SendResult) -> str:
    if result.status is None:
        return "dropped_network_error"
    if result.status in (401, 403):
        return "dropped_refused"
    if result.status == 413:
        return "dropped_too_large"
    if result.status == 429:
        return "dropped_rate_limited"
    return "dropped_server_error"


class SyncTransport(Transport):
    """Sends every envelope on the calling thread, within ``timeout`` seconds."""

    def __init__(self, dsn: Dsn, timeout: float) -> None:
        super().__init__({"dsn": dsn.raw})
        self._sender = _Sender(dsn, timeout)

    def capture_envelope(self, envelope: Envelope) -> None:
        self._sender.send(envelope)

    def flush(
        self, timeout: float, callback: Optional[Callable[[int, float], None]] = None
    ) -> None:
        """Nothing is ever pending."""

    def kill(self) -> None:
        """Nothing to stop."""

    def stats(self) -> dict[str, int]:
        return dict(self._sender.counts)


_BACKGROUND_TRANSPORTS: weakref.WeakSet[Union[BackgroundTransport, SpoolTransport]] = (
    weakref.WeakSet()
)


def _after_fork_in_child() -> None:
    for transport in list(_BACKGROUND_TRANSPORTS):
        transport._reset_after_fork()


after_fork_in_child(_after_fork_in_child)


class BackgroundTransport(Transport):
    """Queues envelopes and sends them from one worker thread.

    The queue is bounded (``queue_size``); when it is full the oldest envelope
    is dropped and counted. ``flush`` waits at most its timeout.
    """

    def __init__(self, dsn: Dsn, timeout: float, queue_size: int) -> None:
        super().__init__({"dsn": dsn.raw})
        self._sender = _Sender(dsn, timeout)
        self._queue_size = queue_size
        self._reset_after_fork()
        _BACKGROUND_TRANSPORTS.add(self)

    def _reset_after_fork(self) -> None:
        # In a child after fork: the parent's worker thread does not exist here
        # and its lock may be held; start over with fresh state. Whatever the
        # parent had queued stays the parent's to send, so nothing goes twice.
        self._condition = threading.Condition(threading.Lock())
        self._queue: collections.deque[Envelope] = collections.deque()
        self._in_flight = 0
        self._worker: Optional[threading.Thread] = None
        self._stopped = False
        # Backoff after sends the server did not answer or answered 5xx: the
        # queue waits (bounded), so a failing server gets no request per event.
        self._retry_at = 0.0
        self._failures = 0

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._condition:
            if self._stopped:
                self._sender.count("dropped_after_close")
                return
            if self._worker is None:
                worker = threading.Thread(
                    target=self._run, name="sentry-logging-std.transport", daemon=True
                )
                try:
                    worker.start()
                except RuntimeError:
                    # The interpreter is shutting down and starts no new
                    # threads (Python 3.12+): send from this thread instead.
                    pass
                else:
                    self._worker = worker
            inline = self._worker is None
            if not inline:
                if len(self._queue) >= self._queue_size:
                    # Like the capture queue: a burst keeps its first events.
                    self._sender.count("dropped_queue_full")
                    return
                self._queue.append(envelope)
                self._condition.notify_all()
        if inline:
            self._sender.send(envelope)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped:
                    wait = self._retry_at - time.monotonic()
                    if self._queue and wait <= 0:
                        break
                    self._condition.wait(min(RETRY_AFTER_MAX, wait) if self._queue else None)
                if not self._queue or self._stopped:
                    return
                envelope = self._queue.popleft()
                self._in_flight += 1
            back_off = False
            try:
                back_off = self._sender.send(envelope)
            except Exception:
                self._sender.count("dropped_internal_error")
                diagnostics.exception("sentry-logging-std: sending an envelope failed")
            finally:
                with self._condition:
                    self._in_flight -= 1
                    if back_off:
                        self._failures += 1
                        self._retry_at = time.monotonic() + backoff_delay(self._failures)
                    else:
                        self._failures = 0
                    self._condition.notify_all()

    def flush(
        self, timeout: float, callback: Optional[Callable[[int, float], None]] = None
    ) -> None:
        deadline = exit_deadline(time.monotonic() + timeout)
        with self._condition:
            pending = len(self._queue) + self._in_flight
            if pending and callback is not None:
                callback(pending, timeout)
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    diagnostics.warning(
                        "sentry-logging-std: %d envelope(s) still pending after %gs flush",
                        len(self._queue) + self._in_flight,
                        timeout,
                    )
                    return
                self._condition.wait(remaining)

    def kill(self) -> None:
        with self._condition:
            self._stopped = True
            dropped = len(self._queue)
            self._queue.clear()
            self._condition.notify_all()
        if dropped:
            self._sender.count("dropped_after_close", dropped)

    def stats(self) -> dict[str, Any]:
        with self._condition:
            pending = len(self._queue) + self._in_flight
        return {**self._sender.counts, "pending": pending}


#: Backoff after consecutive failed sends: BACKOFF_BASE * 2**n seconds, at
#: most BACKOFF_MAX, times a random factor in [0.5, 1) so that many processes
#: sharing a spool do not retry in step.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 60.0
#: How long close() waits for the writer to finish the batch it holds.
CLOSE_WRITE_WAIT = 5.0
#: The most envelopes the writer takes from the queue for one batch (one fsync pass).
WRITE_BATCH = 256
#: The longest the capture worker waits for the writer's batch in a burst.
BURST_WAIT = 1.0
#: How often an idle sender looks for files left by other (or earlier) processes.
RESCAN_INTERVAL = 30.0


def backoff_delay(failures: int, at_least: float = 0.0) -> float:
    """Seconds to wait after *failures* consecutive failed sends (jittered, bounded)."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(failures - 1, 16))
    return max(at_least, delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not secrecy


class SpoolTransport(Transport):
    """Writes every envelope to a spool first, then sends it; keeps what did not go.

    Two threads, so that writing never waits for the network: the *writer*
    takes what log calls queued and writes it to the spool in batches; the
    *sender* sends what waits in ``ready/``, oldest first, and backs off when
    the server fails. A send that hangs for ``transport_timeout`` holds only
    the sender: new envelopes reach the disk meanwhile.

    ``sync=False`` (``transport="background"``): a log call queues the envelope
    in memory and returns. ``flush`` writes whatever is still queued on the
    calling thread, so once it returns every event logged before it is on
    disk. ``sync=True``: the calling thread writes and sends (one attempt);
    later attempts are the sender's. With ``dsn=None`` nothing is sent: the
    spool keeps everything.

    On start (when there is a DSN) the sender resends what earlier processes
    left in the spool, in the background.
    """

    def __init__(
        self,
        dsn: Optional[Dsn],
        timeout: float,
        queue_size: int,
        spool: Spool,
        sync: bool = False,
    ) -> None:
        super().__init__({"dsn": dsn.raw if dsn is not None else None})
        self.spool = spool
        self._dsn = dsn
        self._sender: Optional[_Sender] = _Sender(dsn, timeout) if dsn is not None else None
        # Counts of a spool without a server (with one, the sender counts).
        self._counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = ForkSafeLock()
        # Held while claiming a file and while putting back stale claims, so a
        # claim this process is about to send is never mistaken for a stale one.
        self._claims_lock = ForkSafeLock()
        self._queue_size = queue_size
        self._sync = sync
        self._reset_after_fork()
        _BACKGROUND_TRANSPORTS.add(self)
        if dsn is not None:
            with self._condition:
                self._ensure_worker()

    def _reset_after_fork(self) -> None:
        # In a child after fork: no worker thread, nothing queued, no claims in
        # flight. The parent's claimed files carry the parent's pid, which is
        # alive, so the child never takes them; unclaimed files in the spool go
        # to whichever process claims them first.
        self._condition = threading.Condition(threading.Lock())
        self._queue: collections.deque[Envelope] = collections.deque()
        self._storing = 0
        self._own: set[str] = set()
        self._busy: set[str] = set()
        self._backlog = 0
        self._worker: Optional[threading.Thread] = None  # the sender
        self._writer: Optional[threading.Thread] = None
        self._stopped = False
        self._retry_at = 0.0
        self._failures = 0
        self._next_scan = 0.0
        self.spool.reset_after_fork()

    # -- the calling thread ------------------------------------------------------

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._condition:
            inline = self._stopped or self._sync or not self._ensure_writer()
            if not inline:
                if len(self._queue) >= self._queue_size:
                    # Like the capture queue: a burst keeps its first events.
                    self._count("dropped_queue_full")
                    return
                self._queue.append(envelope)
                self._condition.notify_all()
                if self._storing and len(self._queue) >= WRITE_BATCH and on_capture_thread():
                    # A burst: the capture worker, busy building events, would
                    # hold the interpreter lock against the writer's every
                    # system call. It waits (briefly) for the batch being
                    # written, so the disk keeps pace with the building.
                    self._condition.wait_for(lambda: not self._storing, BURST_WAIT)
        if inline:
            name = self._store(envelope)
            if name is not None and self._sync and not self._stopped:
                self._send_if_due(name)

    def _ensure_worker(self) -> bool:
        """Start the sender if needed (call with the condition held); False if none runs."""
        if self._worker is None:
            self._worker = self._start(self._run, "sentry-logging-std.spool-sender")
        return self._worker is not None

    def _ensure_writer(self) -> bool:
        """Start the writer (and the sender) if needed (call with the condition held);
        False if no writer runs."""
        if self._dsn is not None:
            self._ensure_worker()
        if self._writer is None:
            self._writer = self._start(self._write_loop, "sentry-logging-std.spool-writer")
        return self._writer is not None

    @staticmethod
    def _start(target: Callable[[], None], name: str) -> Optional[threading.Thread]:
        thread = threading.Thread(target=target, name=name, daemon=True)
        try:
            thread.start()
        except RuntimeError:
            return None  # the interpreter is shutting down (Python 3.12+)
        return thread

    def _count(self, reason: str, n: int = 1) -> None:
        if self._sender is not None:
            self._sender.count(reason, n)
        else:
            with self._counts_lock:
                self._counts[reason] += n

    def _store(self, envelope: Envelope) -> Optional[str]:
        """Write *envelope* to the spool; if the disk refuses, send it as without a spool."""
        return self._store_batch([envelope])[0]

    def _store_batch(self, envelopes: list[Envelope]) -> list[Optional[str]]:
        """Write *envelopes* to the spool as one batch (one fsync pass, one bounds check);
        each one the disk refuses is sent as without a spool, or counted."""
        payloads = []
        for envelope in envelopes:
            headers = {k: v for k, v in envelope.headers.items() if k != "dsn"}
            payloads.append(Envelope(headers=headers, items=envelope.items).serialize())
        results = self.spool.write_many(payloads)
        names: list[Optional[str]] = []
        for envelope, result in zip(envelopes, results):
            if isinstance(result, OSError):
                self._count("spool_write_errors")
                diagnostics.warning(
                    "sentry-logging-std: cannot write to the spool %s: %s",
                    self.spool.directory,
                    result,
                )
                if self._sender is not None:
                    self._sender.send(envelope)
                else:
                    self._count("dropped_spool_error")
                names.append(None)
            else:
                names.append(result)
        stored = [name for name in names if name is not None]
        if stored and self._dsn is not None:  # without a server nothing is awaited
            with self._condition:
                self._own.update(stored)
                self._condition.notify_all()
        return names

    def _store_queued(self, deadline: float = math.inf) -> None:
        """Write every queued envelope to the spool, on the calling thread, in batches of
        at most WRITE_BATCH; what is still queued once *deadline* passed is dropped and
        counted as ``dropped_at_exit`` (only the interpreter's exit sets one).

        One batch at a time (the writer's, or a flush's): files reach ``ready/`` in
        the order they were logged, and the bounds are kept against a directory no
        other batch of this process is changing (two at once evicted too many). A
        batch stuck longer than CLOSE_WRITE_WAIT (a hung disk) is not waited for.
        """
        while True:
            with self._condition:
                wait_until = min(deadline, time.monotonic() + CLOSE_WRITE_WAIT)
                while self._storing and self._queue:
                    left = wait_until - time.monotonic()
                    if left <= 0:
                        break
                    self._condition.wait(left)
                if not self._queue:
                    return
                if time.monotonic() >= deadline:
                    late = len(self._queue)
                    self._queue.clear()
                    break
                batch = [self._queue.popleft() for _ in range(min(WRITE_BATCH, len(self._queue)))]
                self._storing += len(batch)
            try:
                self._store_batch(batch)
            finally:
                with self._condition:
                    self._storing -= len(batch)
                    self._condition.notify_all()
        self._count("dropped_at_exit", late)
        diagnostics.warning(
            "sentry-logging-std: %d envelope(s) not written to the spool %s before the "
            "exit's shutdown_timeout ran out",
            late,
            self.spool.directory,
        )

    # -- the worker ----------------------------------------------------------------

    def _due(self, now: float) -> bool:
        """Whether the worker has sending to do now (call with the condition held)."""
        if self._dsn is None or now < self._retry_at:
            return False
        return bool(self._own or self._backlog or now >= self._next_scan)

    def _write_loop(self) -> None:
        """The writer: what log calls queued goes to disk, a batch per wakeup."""
        while True:
            try:
                with self._condition:
                    while not self._queue:
                        if self._stopped:
                            return
                        self._condition.wait()
                self._store_queued()
            except Exception:
                self._internal_error("writer")

    def _run(self) -> None:
        """The sender: what waits in ``ready/`` goes to the server, oldest first."""
        while True:
            try:
                if self._wait_for_sending():
                    return
                self._send_round()
            except Exception:
                self._internal_error("sender")
                with self._condition:
                    self._retry_at = time.monotonic() + BACKOFF_MAX

    def _internal_error(self, which: str) -> None:
        # Nothing ends these loops but close(): an unexpected error is counted,
        # reported (printed with debug=True), and the loop goes on after a pause.
        try:
            self._count("spool_internal_errors")
            diagnostics.exception("sentry-logging-std: the spool's %s failed", which)
            with self._condition:
                self._condition.wait(1.0)  # never a busy loop
        except Exception:  # noqa: S110 - the loop itself must go on
            pass

    def _wait_for_sending(self) -> bool:
        """Wait until something is due to be sent; True when closed."""
        with self._condition:
            while True:
                if self._stopped:
                    return True
                now = time.monotonic()
                if self._due(now):
                    return False
                wakeup = self._retry_at
                if not (self._own or self._backlog):
                    wakeup = max(wakeup, self._next_scan)
                self._condition.wait(min(RETRY_AFTER_MAX, max(0.01, wakeup - now)))

    def _send_round(self) -> None:
        """Send what waits in the spool, oldest first, until a send fails or new work comes."""
        now = time.monotonic()
        with self._condition:
            scan = now >= self._next_scan
            if scan:
                self._next_scan = now + RESCAN_INTERVAL
            known = set(self._own)
        if scan:
            with self._claims_lock:
                with self._condition:
                    busy = frozenset(self._busy)
                self.spool.recover(busy=busy)
        names = self.spool.waiting()
        with self._condition:
            # Own files no longer waiting were claimed by another process.
            self._own -= known - set(names)
            self._backlog = len(names)
            self._condition.notify_all()
        for index, name in enumerate(names):
            with self._condition:
                if self._stopped:
                    return
            if not self._send_if_due(name):
                with self._condition:
                    self._backlog = len(names) - index
                    self._condition.notify_all()
                return
        with self._condition:
            self._backlog = 0
            self._condition.notify_all()

    def _send_if_due(self, name: str) -> bool:
        """Claim, send and settle one file; False if it was kept for a later try."""
        sender = self._sender
        if sender is None:
            return True
        with self._condition:
            if time.monotonic() < self._retry_at:
                return False
            entry = f"{name}@{os.getpid()}"
            self._busy.add(entry)
        try:
            return self._send_claimed(sender, name)
        finally:
            with self._condition:
                self._busy.discard(entry)
                self._condition.notify_all()

    def _send_claimed(self, sender: _Sender, name: str) -> bool:
        with self._claims_lock:
            claimed = self.spool.claim(name)
        if claimed is None:  # another process has it
            self._settled(name)
            return True
        payload = self.spool.read(claimed)
        envelope = None
        if payload is not None:
            try:
                envelope = Envelope.deserialize(payload)
            except Exception:
                self.spool.set_aside(claimed)
        if envelope is None:
            self._settled(name)
            return True
        outcome = sender.attempt(envelope)
        note = ""
        if isinstance(outcome, SendResult):
            with self._condition:
                # Settled under the lock close() counts under: an envelope is
                # either sent or kept at close, never both.
                if self._stopped:
                    # Closed while this send was out: the file stays claimed,
                    # where close() counted it (spool_kept_at_exit); the next
                    # start takes it back and sends it. A server that did take
                    # it gets it twice, under the same event_id.
                    return False
                done, wait, note = sender.settle(outcome)
                if done:
                    self.spool.done(claimed)
                    self._own.discard(name)
                    self._failures = 0
                    self._condition.notify_all()
            if note:
                diagnostics.warning(
                    "sentry-logging-std: envelope to %s %s: %s",
                    sender.dsn.netloc,
                    note,
                    outcome.describe(),
                )
            if done:
                return True
        else:
            done, wait = outcome
            if done:
                self.spool.done(claimed)
                self._settled(name)
                return True
        self.spool.release(claimed)
        self._back_off(wait)
        return False

    def _settled(self, name: str) -> None:
        with self._condition:
            self._own.discard(name)
            self._condition.notify_all()

    def _back_off(self, at_least: float) -> None:
        with self._condition:
            self._failures += 1
            self._retry_at = time.monotonic() + backoff_delay(self._failures, at_least)
            self._condition.notify_all()

    # -- flush, close, counts ----------------------------------------------------

    def flush(
        self, timeout: float, callback: Optional[Callable[[int, float], None]] = None
    ) -> None:
        """Write what is queued to the spool, then wait (at most *timeout* in all)
        for what this process can send now.

        Returns early when the server is in backoff: what waits is on disk and
        is resent later, by this process or the next.
        """
        deadline = exit_deadline(time.monotonic() + timeout)
        # Writing is disk time, not network time: it is bounded only at exit.
        self._store_queued(exit_deadline(math.inf))
        with self._condition:
            pending = self._storing + len(self._own)
            if pending and callback is not None and self._dsn is not None:
                callback(pending, timeout)
            while self._storing or (
                self._dsn is not None
                and self._worker is not None
                and (self._own or self._busy or self._backlog)
                and time.monotonic() >= self._retry_at
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    diagnostics.warning(
                        "sentry-logging-std: %d envelope(s) not sent after %gs flush; "
                        "they wait in the spool %s",
                        len(self._own),
                        timeout,
                        self.spool.directory,
                    )
                    return
                self._condition.wait(remaining)

    def kill(self) -> None:
        """Stop sending; what is queued is written to the spool, for the next start."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._store_queued(exit_deadline(math.inf))
        with self._condition:
            # The writer may be writing a batch (at most WRITE_BATCH files, tens
            # of milliseconds): wait for it, even past the exit's budget, so that
            # what close() reports is on disk and every envelope is counted once,
            # and a daemon thread is not stopped mid-write at exit.
            deadline = time.monotonic() + CLOSE_WRITE_WAIT
            while self._storing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            kept = len(self._own) if self._dsn is not None else 0
            self._own.clear()
        if kept:
            self._count("spool_kept_at_exit", kept)
            diagnostics.warning(
                "sentry-logging-std: %d envelope(s) not delivered before close wait in the "
                "spool %s and are sent on the next start",
                kept,
                self.spool.directory,
            )

    def stats(self) -> dict[str, Any]:
        with self._condition:
            pending = len(self._queue) + self._storing + len(self._busy)
        if self._sender is not None:
            with self._sender._counts_lock:
                sent = dict(self._sender.counts)
        else:
            with self._counts_lock:
                sent = dict(self._counts)
        counts: dict[str, Any] = {**sent, **self.spool.snapshot(), "pending": pending}
        counts["spool_waiting"] = len(self.spool.waiting())
        return counts


def make_transport(options: Options) -> Any:
    """What to pass as ``sentry_sdk.init(transport=...)`` for these options.

    The two named modes become ready instances; a user's own ``Transport``
    class or instance is passed through for sentry-sdk to set up.
    """
    assert options.dsn is not None
    chosen = options.transport
    if options.spool_dir is not None:
        spool = Spool(
            options.spool_dir,
            max_bytes=options.spool_max_bytes,
            max_files=options.spool_max_files,
            stale_after=max(60.0, 4 * options.transport_timeout),
        )
        return SpoolTransport(
            None if options.dsn.spool_only else options.dsn,
            options.transport_timeout,
            options.queue_size,
            spool,
            sync=chosen == "sync",
        )
    if chosen == "sync":
        return SyncTransport(options.dsn, options.transport_timeout)
    if chosen == "background":
        return BackgroundTransport(options.dsn, options.transport_timeout, options.queue_size)
    return chosen
