"""Sending envelopes to a Sentry-protocol server, with a deadline on every send.

Two transports, both ``sentry_sdk.transport.Transport`` subclasses:

- :class:`BackgroundTransport` (the default) queues envelopes in a bounded queue
  and sends them from one worker thread, so a log call never waits for the
  network. The worker starts lazily and is recreated after ``fork``.
- :class:`SyncTransport` sends on the calling thread and gives up after
  ``transport_timeout`` seconds.

Both honour rate limits per data category (a server that refuses transactions
for a day must not stop error events), count what they could not deliver and
why (:meth:`stats`), and report failures on the ``sentry_sdk.errors`` logger,
which sentry-sdk prints when ``debug=True``.
"""

from __future__ import annotations

import collections
import gzip
import http.client
import logging
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Callable, Optional

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from sentry_logging_std._forksafe import ForkSafeLock, after_fork_in_child

if TYPE_CHECKING:
    from sentry_logging_std._options import Dsn, Options

__all__ = ["BackgroundTransport", "SendResult", "SyncTransport", "make_transport", "send_envelope"]

#: sentry-sdk prints this logger's records to stderr when ``debug=True``; the
#: handler never turns its records into events (see ``_handler.IGNORED_LOGGERS``).
diagnostics = logging.getLogger("sentry_sdk.errors")

try:
    _VERSION = version("sentry-logging-std")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0"
CLIENT_NAME = f"sentry_logging_std/{_VERSION}"

_DEFAULT_RETRY_AFTER = 60.0


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


def send_envelope(dsn: Dsn, body: bytes, timeout: float) -> SendResult:
    """POST one serialised envelope; never raises, never waits past *timeout*."""
    deadline = time.monotonic() + timeout
    connection: http.client.HTTPConnection
    if dsn.scheme == "https":
        connection = http.client.HTTPSConnection(
            dsn.host, dsn.port, timeout=timeout, context=_ssl_context()
        )
    else:
        connection = http.client.HTTPConnection(dsn.host, dsn.port, timeout=timeout)
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
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return SendResult(status=None, error=f"timed out after {timeout:g}s")
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
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


def _retry_after(header: Optional[str]) -> float:
    if not header:
        return 0.0
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
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
                    delay = float(seconds)
                except ValueError:
                    continue
                for category in categories.split(";") if categories else ["*"]:
                    self._until[category or "*"] = now + delay
        elif result.status == 429:
            self._until["*"] = now + (result.retry_after or _DEFAULT_RETRY_AFTER)

    def blocked(self, category: str) -> bool:
        now = time.monotonic()
        return self._until.get(category, 0.0) > now or self._until.get("*", 0.0) > now


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

    def send(self, envelope: Envelope) -> None:
        items = [item for item in envelope.items if not self.limits.blocked(item.data_category)]
        dropped = len(envelope.items) - len(items)
        if dropped:
            self.count("dropped_rate_limited", dropped)
        if not items:
            return
        if dropped:
            envelope = Envelope(headers=envelope.headers, items=items)
        result = send_envelope(self.dsn, envelope.serialize(), self.timeout)
        self.limits.update(result)
        if result.accepted:
            self.count("sent")
            return
        self.count(_failure_reason(result))
        diagnostics.warning(
            "sentry-logging-std: envelope to %s not delivered: %s",
            self.dsn.netloc,
            result.describe(),
        )


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


_BACKGROUND_TRANSPORTS: weakref.WeakSet[BackgroundTransport] = weakref.WeakSet()


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
                    self._queue.popleft()
                    self._sender.count("dropped_queue_full")
                self._queue.append(envelope)
                self._condition.notify_all()
        if inline:
            self._sender.send(envelope)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopped:
                    self._condition.wait()
                if not self._queue:
                    return
                envelope = self._queue.popleft()
                self._in_flight += 1
            try:
                self._sender.send(envelope)
            except Exception:
                self._sender.count("dropped_internal_error")
                diagnostics.exception("sentry-logging-std: sending an envelope failed")
            finally:
                with self._condition:
                    self._in_flight -= 1
                    self._condition.notify_all()

    def flush(
        self, timeout: float, callback: Optional[Callable[[int, float], None]] = None
    ) -> None:
        deadline = time.monotonic() + timeout
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


def make_transport(options: Options) -> Any:
    """What to pass as ``sentry_sdk.init(transport=...)`` for these options.

    The two named modes become ready instances; a user's own ``Transport``
    class or instance is passed through for sentry-sdk to set up.
    """
    assert options.dsn is not None
    chosen = options.transport
    if chosen == "sync":
        return SyncTransport(options.dsn, options.transport_timeout)
    if chosen == "background":
        return BackgroundTransport(options.dsn, options.transport_timeout, options.queue_size)
    return chosen
