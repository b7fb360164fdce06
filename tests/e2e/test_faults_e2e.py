"""SentryHandler into Bugsink through a fault-injecting proxy (``tests/fault_proxy.py``).

For each fault — refused connections, resets, a black hole, a slow or dribbling server, an
answer lost after the server took the event, and 429/500/413 answered by the proxy itself — a
bounded number of errors is logged and then the proxy goes back to passing traffic. Checked
every time:

* the application never sees an exception (the handler used re-raises from ``handleError``,
  so anything the library let escape would reach the log call);
* every event is accounted for: ``handler.stats()`` counts it sent or dropped by reason, and
  Bugsink stores exactly the events counted as sent (looked up by event id, and by count);
* a fully synchronous log call returns within ``transport_timeout`` (plus a margin for event
  building and a loaded machine): the bound the ``sync`` transport promises;
* after a 429 with ``Retry-After`` nothing goes out, not even once the server is back, until
  the window has passed; then sending resumes.

With ``spool_dir`` (the durable spool) the events survive the fault: after recovery Bugsink
holds exactly the events logged, same ids, none twice (413 is final: those are dropped, counted).

Two tests are strict expected failures, each naming a defect they found: a byte-dribbled answer
holds a ``sync`` send past ``transport_timeout``, and loguru's per-message ``flush()`` makes a
SentrySink log call wait for delivery. Fixed, they pass, and the marker must go.
"""

from __future__ import annotations

import gzip
import logging
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from loguru import logger
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from sentry_logging_std import SentryHandler, SentrySink
from sentry_logging_std._options import DEFAULTS

from ..fault_proxy import FaultProxy, envelope_event_ids
from .bugsink import Bugsink

#: ``transport_timeout`` of every handler here: long enough for a loaded machine's Bugsink
#: to take an event, short enough that a black hole costs little.
TIMEOUT = 3.0
#: What a synchronous log call may take beyond ``transport_timeout``: building the event,
#: and a machine shared with other work.
MARGIN = 1.5
#: Counts in ``stats()`` that are states, not events.
GAUGES = frozenset({"pending", "capture_pending", "spool_waiting"})

HAS_SPOOL = "spool_dir" in DEFAULTS
needs_spool = pytest.mark.skipif(not HAS_SPOOL, reason="the spool_dir option has not landed")


class PaymentDeclined(Exception):
    pass


class StrictHandler(SentryHandler):
    """A SentryHandler whose ``handleError`` re-raises: an exception the library let out of
    ``emit`` would reach the log call, and fail the test there."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            raise error


@dataclass
class Logged:
    """What a batch of log calls produced: event ids, and the longest call."""

    ids: list[str] = field(default_factory=list)
    longest: float = 0.0
    total: float = 0.0


@dataclass
class FaultRun:
    proxy: FaultProxy
    bugsink: Bugsink
    log: logging.Logger
    handler: StrictHandler
    baseline: dict[str, int]
    stored_before: int

    def errors(self, count: int, label: str) -> Logged:
        """Log *count* errors, alternating a plain error and one with a chained exception."""
        logged = Logged()
        for n in range(count):
            started = time.monotonic()
            if n % 2:
                try:
                    try:
                        raise ConnectionError(f"gateway gone ({label} {n})")
                    except ConnectionError as exc:
                        raise PaymentDeclined(f"{label} order {n} not charged") from exc
                except PaymentDeclined:
                    self.log.exception("%s: order %d failed", label, n, extra={"n": n})
            else:
                self.log.error("%s: stock %d below zero", label, n, extra={"n": n})
            elapsed = time.monotonic() - started
            logged.longest = max(logged.longest, elapsed)
            logged.total += elapsed
            assert self.handler.last_event_id is not None
            logged.ids.append(self.handler.last_event_id)
        return logged

    def counts(self) -> dict[str, int]:
        """Counts of ``stats()`` since the handler started (the capture worker is process-wide,
        so its counts from earlier tests are subtracted)."""
        now = self.handler.stats()
        delta = {
            key: value - self.baseline.get(key, 0)
            for key, value in now.items()
            if key not in GAUGES and value - self.baseline.get(key, 0)
        }
        for key in ("pending", "capture_pending", "spool_waiting"):
            if now.get(key):
                delta[key] = now[key]
        return delta

    def stored(self, ids: list[str]) -> list[str]:
        """Those of *ids* Bugsink has stored (no waiting: eager digestion stores in the request)."""
        return [event_id for event_id in ids if self.bugsink.lookup(event_id) is not None]

    def stored_count(self) -> int:
        """Events Bugsink stored since this run started."""
        return self.bugsink.event_count() - self.stored_before

    def wait_stored(self, ids: list[str], timeout: float) -> list[str]:
        """Poll (bounded) until every one of *ids* is stored; return those stored."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.stored(ids)
            if len(found) == len(ids) or time.monotonic() > deadline:
                return found
            time.sleep(0.25)

    def wait_counts(self, condition: Callable[[dict[str, int]], bool], timeout: float) -> bool:
        """Poll (bounded) until *condition* holds for :meth:`counts`."""
        return self.wait_until(lambda _: condition(self.counts()), timeout)

    def wait_until(self, condition: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition(self.handler.stats()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def upstream_of(bugsink: Bugsink) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(bugsink.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture
def proxy(bugsink: Bugsink) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's Bugsink; it stops by itself after 5 minutes."""
    with FaultProxy(upstream_of(bugsink), lifetime=300.0) as running:
        yield running


@pytest.fixture
def run_through(bugsink: Bugsink, proxy: FaultProxy) -> Iterator[Callable[..., FaultRun]]:
    """Build a StrictHandler pointed at the proxy, on a logger of its own, client started."""
    made: list[tuple[logging.Logger, SentryHandler]] = []

    def make(**options: Any) -> FaultRun:
        options.setdefault("dsn", proxy.dsn(bugsink.dsn))
        options.setdefault("transport_timeout", TIMEOUT)
        options.setdefault("shutdown_timeout", 1.0)
        options.setdefault("flood_limit", 0)
        handler = StrictHandler(**options)
        log = logging.getLogger(f"tests.faults.{len(made)}")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        made.append((log, handler))
        assert handler.init()
        return FaultRun(
            proxy=proxy,
            bugsink=bugsink,
            log=log,
            handler=handler,
            baseline={k: v for k, v in handler.stats().items() if k not in GAUGES},
            stored_before=bugsink.event_count(),
        )

    yield make
    for log, handler in made:
        log.removeHandler(handler)
        if not proxy.stopped:
            proxy.set_pass()
        handler.close()


def apply_fault(proxy: FaultProxy, fault: str, retry_after: float = 2.0) -> None:
    if fault == "refuse":
        proxy.set_refuse()
    elif fault == "reset":
        proxy.set_reset()
    elif fault == "blackhole":
        proxy.set_blackhole()
    elif fault == "429":
        proxy.set_rate_limited(retry_after)
    elif fault.isdigit():
        proxy.set_answer(int(fault))
    else:
        raise AssertionError(f"unknown fault {fault}")


# ---------------------------------------------------------------------------------------------
# The proxy itself
# ---------------------------------------------------------------------------------------------


def _get(port: int, path: str = "/health/ready") -> bytes:
    """One raw HTTP GET through *port*; the first bytes of the answer (b"" if none came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        return sock.recv(64)


def test_proxy_modes_do_what_they_say(proxy: FaultProxy) -> None:
    """Each mode, seen from a raw socket: the proxy is a real network fault, not a stub."""
    port = proxy.port
    assert _get(port).startswith(b"HTTP/1.1 200")
    proxy.set_refuse()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    proxy.set_pass()
    assert proxy.port == port
    assert _get(port).startswith(b"HTTP/1.1 200")
    proxy.set_reset()
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        _get(port)
    proxy.set_blackhole()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(64)
    proxy.set_rate_limited(7)
    answer = _get(port)
    assert answer.startswith(b"HTTP/1.1 429")
    assert proxy.answered[-1].status == 429
    proxy.set_lose_answer()
    with pytest.raises(ConnectionResetError):
        _get(port)
    assert proxy.lost_answers == 1
    assert proxy.connections["pass"] == 2


def test_proxy_stops_by_itself(bugsink: Bugsink) -> None:
    """Past its lifetime the proxy closes everything, its port included."""
    with FaultProxy(upstream_of(bugsink), lifetime=0.5) as proxy:
        port = proxy.port
        deadline = time.monotonic() + 10
        while not proxy.stopped and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.stopped
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_envelope_event_ids_reads_what_the_sdk_writes() -> None:
    envelope = Envelope(headers={"event_id": "a" * 32})
    envelope.add_event({"event_id": "b" * 32, "message": "one"})
    envelope.add_item(Item(payload=PayloadRef(json={"x": "\n".join("yz")}), type="attachment"))
    assert envelope_event_ids(gzip.compress(envelope.serialize()), "gzip") == ("b" * 32,)
    assert envelope_event_ids(b"not an envelope") == ()


# ---------------------------------------------------------------------------------------------
# Without a spool: every loss is counted, by reason, and costs the application nothing
# ---------------------------------------------------------------------------------------------

DROP_REASONS = {
    "refuse": "dropped_network_error",
    "reset": "dropped_network_error",
    "blackhole": "dropped_network_error",
    "500": "dropped_server_error",
    "413": "dropped_too_large",
}


@pytest.mark.parametrize("fault", list(DROP_REASONS))
def test_fault_then_recovery_every_event_accounted_for(
    run_through: Callable[..., FaultRun], fault: str
) -> None:
    """During the fault each event is dropped and counted by reason, the log call bounded by
    transport_timeout; once the proxy passes again, events are stored, and only those."""
    run = run_through(transport="sync", capture="sync")
    apply_fault(run.proxy, fault)
    faulty = run.errors(3, f"during {fault}")
    run.proxy.set_pass()
    healthy = run.errors(2, f"after {fault}")

    assert run.counts() == {DROP_REASONS[fault]: 3, "sent": 2}
    assert faulty.longest <= TIMEOUT + MARGIN
    assert run.stored(faulty.ids) == []
    assert run.wait_stored(healthy.ids, timeout=10) == healthy.ids
    assert run.stored_count() == 2
    data = run.bugsink.event(healthy.ids[1])
    assert data["logentry"]["formatted"] == f"after {fault}: order 1 failed"
    if fault.isdigit():
        # Every event reached the "server" and was answered: no backoff after 500 or 413.
        assert run.proxy.answered_ids() == set(faulty.ids)
    else:
        assert run.proxy.answered == []


def test_429_holds_every_send_until_retry_after_has_passed(
    run_through: Callable[..., FaultRun],
) -> None:
    """A 429 with Retry-After stops all sending for that long — even once the server is back,
    nothing reaches it — and sending resumes after the window."""
    retry_after = 5.0
    run = run_through(transport="sync", capture="sync")
    run.proxy.set_rate_limited(retry_after)
    first = run.errors(1, "first")
    held = run.errors(3, "held")
    (answered,) = run.proxy.answered
    assert answered.status == 429
    assert answered.event_ids == (first.ids[0],)  # the held events never reached the proxy

    run.proxy.set_pass()
    held_after_recovery = run.errors(2, "held after recovery")
    assert run.proxy.connections["pass"] == 0  # the transport, not the network, held them
    assert run.stored(held.ids + held_after_recovery.ids) == []

    # The transport's window starts when it reads the answer, a little after the proxy's
    # record of it: wait a second more.
    time.sleep(max(0.0, answered.at + retry_after + 1.0 - time.monotonic()))
    resumed = run.errors(2, "resumed")
    assert run.wait_stored(resumed.ids, timeout=10) == resumed.ids
    assert run.counts() == {"dropped_rate_limited": 6, "sent": 2}
    assert run.stored_count() == 2
    assert max(first.longest, held.longest, held_after_recovery.longest) <= TIMEOUT + MARGIN


def test_413_for_some_events_drops_only_those(run_through: Callable[..., FaultRun]) -> None:
    """A server that refuses every other event as too large: those are dropped and counted,
    the others stored, in one stream."""
    run = run_through(transport="sync", capture="sync")
    run.proxy.set_answer(413, every=2)
    logged = run.errors(6, "half too large")
    refused = run.proxy.answered_ids()
    assert len(refused) == 3
    assert refused <= set(logged.ids)
    accepted = [event_id for event_id in logged.ids if event_id not in refused]
    assert run.wait_stored(accepted, timeout=10) == accepted
    assert run.stored(sorted(refused)) == []
    assert run.counts() == {"dropped_too_large": 3, "sent": 3}
    assert run.stored_count() == 3


def test_rate_limit_of_another_category_does_not_stop_errors(
    run_through: Callable[..., FaultRun],
) -> None:
    """A 429 whose X-Sentry-Rate-Limits names only transactions costs that one event; the
    next errors go to the server."""
    run = run_through(transport="sync", capture="sync")
    run.proxy.set_answer(429, {"X-Sentry-Rate-Limits": "60:transaction:organization"})
    refused = run.errors(2, "transactions limited")
    assert len(run.proxy.answered) == 2  # the second error was sent too
    run.proxy.set_pass()
    healthy = run.errors(1, "errors flow")
    assert run.wait_stored(healthy.ids, timeout=10) == healthy.ids
    assert run.stored(refused.ids) == []
    assert run.counts() == {"dropped_rate_limited": 2, "sent": 1}


def test_lost_answer_is_counted_as_a_loss_though_the_server_stored_it(
    run_through: Callable[..., FaultRun],
) -> None:
    """When the connection drops after the server took the event, the transport cannot tell
    and counts a network error: without a spool, delivery is at most once as counted, and
    Bugsink may hold more than ``sent`` says."""
    run = run_through(transport="sync", capture="sync")
    run.proxy.set_lose_answer()
    lost = run.errors(2, "answer lost")
    assert run.counts() == {"dropped_network_error": 2}
    assert run.proxy.lost_answers == 2
    assert run.wait_stored(lost.ids, timeout=10) == lost.ids
    assert run.stored_count() == 2


def test_slow_server_within_the_timeout_gets_every_event(
    run_through: Callable[..., FaultRun],
) -> None:
    """A slow link (first byte late, then throttled both ways) that stays within
    transport_timeout loses nothing."""
    run = run_through(transport="sync", capture="sync")
    run.proxy.set_slow(delay=0.2, chunk=512, interval=0.01)
    slow = run.errors(3, "slow link")
    assert run.counts() == {"sent": 3}
    assert run.wait_stored(slow.ids, timeout=10) == slow.ids
    assert run.proxy.forwarded_bytes["up"] > 0
    assert slow.longest <= TIMEOUT + MARGIN


def test_answer_dribbled_byte_by_byte_does_not_hold_a_log_call_past_the_timeout(
    bugsink: Bugsink,
) -> None:
    """The server answers, but one byte every 0.25 s: the send must still give up after
    transport_timeout. (The proxy here lives TIMEOUT + 5 s, which bounds the test.)"""
    timeout = 1.0
    with FaultProxy(upstream_of(bugsink), lifetime=timeout + 5.0) as proxy:
        handler = StrictHandler(
            dsn=proxy.dsn(bugsink.dsn),
            transport="sync",
            capture="sync",
            transport_timeout=timeout,
            flood_limit=0,
        )
        log = logging.getLogger("tests.faults.dribble")
        log.propagate = False
        log.addHandler(handler)
        try:
            assert handler.init()
            proxy.set_slow(chunk=1, interval=0.25, directions=("down",))
            started = time.monotonic()
            log.error("answered a byte at a time")
            elapsed = time.monotonic() - started
        finally:
            log.removeHandler(handler)
    assert elapsed <= timeout + MARGIN
    assert handler.stats().get("dropped_network_error") == 1


def test_background_log_calls_never_wait_for_a_black_hole(
    run_through: Callable[..., FaultRun],
) -> None:
    """With the default background capture and transport, ten log calls into a black hole
    together take less than one send's deadline; flush keeps to shutdown_timeout; the
    bounded queues drop the oldest and count it; after recovery what was queued is sent and
    logged == sent + dropped."""
    run = run_through(queue_size=3)
    run.proxy.set_blackhole()
    logged = run.errors(10, "into the black hole")
    assert logged.total < TIMEOUT  # no call waited for a send

    started = time.monotonic()
    run.handler.flush()
    assert time.monotonic() - started <= run.handler.options.shutdown_timeout + MARGIN

    run.proxy.set_pass()  # also closes the connection held in the black hole
    assert run.wait_until(
        lambda stats: not stats.get("pending") and not stats.get("capture_pending"), timeout=60
    ), run.handler.stats()
    counts = run.counts()
    dropped = {key: value for key, value in counts.items() if key.startswith("dropped_")}
    assert set(dropped) <= {
        "dropped_network_error",
        "dropped_queue_full",
        "dropped_capture_queue_full",
    }
    assert dropped.get("dropped_queue_full", 0) + dropped.get("dropped_capture_queue_full", 0) > 0
    assert counts.get("sent", 0) >= 1  # what waited in the queue went out after recovery
    assert counts.get("sent", 0) + sum(dropped.values()) == len(logged.ids)
    stored = run.stored(logged.ids)
    assert len(stored) == counts["sent"] == run.stored_count()


def test_loguru_calls_never_wait_for_a_black_hole(bugsink: Bugsink, proxy: FaultProxy) -> None:
    """SentrySink with the default background capture and transport: three log calls into a
    black hole together take far less than one send's deadline (3 s), as SentryHandler's do."""
    sink = SentrySink(
        dsn=proxy.dsn(bugsink.dsn),
        transport_timeout=TIMEOUT,
        shutdown_timeout=TIMEOUT,
        flood_limit=0,
    )
    logger.remove()
    logger.add(sink, level="INFO")
    assert sink.init()
    proxy.set_blackhole()
    started = time.monotonic()
    logger.error("loguru into the black hole")
    logger.info("a breadcrumb after it")
    logger.info("and another")
    elapsed = time.monotonic() - started
    proxy.set_pass()
    logger.remove()
    assert elapsed < TIMEOUT / 3


# ---------------------------------------------------------------------------------------------
# With a spool: through a fault and back, Bugsink ends up with every event logged
# ---------------------------------------------------------------------------------------------

#: Each fault, and how the spool counts an attempt that met it (kept for a later try).
SPOOL_FAULTS = {
    "refuse": "deferred_network_error",
    "reset": "deferred_network_error",
    "blackhole": "deferred_network_error",
    "500": "deferred_server_error",
    "429": "deferred_rate_limited",
}


@needs_spool
@pytest.mark.parametrize("transport", ["background", "sync"])
@pytest.mark.parametrize("fault", list(SPOOL_FAULTS))
def test_spool_delivers_every_event_after_the_fault(
    run_through: Callable[..., FaultRun], tmp_path: Path, fault: str, transport: str
) -> None:
    """Events logged during the fault wait on disk; once the proxy passes again the spool
    resends them, and Bugsink holds exactly the events logged — same ids, none twice."""
    run = run_through(spool_dir=str(tmp_path / "spool"), transport=transport)
    apply_fault(run.proxy, fault, retry_after=4.0)
    faulty = run.errors(4, f"spooled through {fault}")
    run.handler.flush()
    assert faulty.longest <= TIMEOUT + MARGIN
    assert run.stored(faulty.ids) == []
    if transport == "background":
        # flush writes what is queued to disk before it returns
        assert run.counts()["spooled"] == 4
    if fault == "429":
        # One request met the 429; the spool waits out Retry-After before the next.
        assert len(run.proxy.answered) == 1

    run.proxy.set_pass()
    healthy = run.errors(2, f"after {fault}")
    logged = faulty.ids + healthy.ids
    assert sorted(run.wait_stored(logged, timeout=90)) == sorted(logged)
    # Bugsink stores an event before it answers: wait for the answers to be counted too.
    assert run.wait_counts(lambda counts: counts.get("sent", 0) >= len(logged), timeout=30)
    assert run.wait_until(lambda stats: not stats.get("spool_waiting"), timeout=10)
    counts = run.counts()
    assert counts["sent"] == len(logged)
    assert counts[SPOOL_FAULTS[fault]] >= 1  # the failed attempts, counted by reason
    assert not any(key.startswith("dropped_") for key in counts), counts
    assert run.stored_count() == len(logged)


@needs_spool
def test_spool_drops_what_the_server_refuses_for_good_and_counts_it(
    run_through: Callable[..., FaultRun], tmp_path: Path
) -> None:
    """413 is final: the spool does not keep the event, counts it, and sends the rest."""
    run = run_through(spool_dir=str(tmp_path / "spool"))
    run.proxy.set_answer(413)
    refused = run.errors(2, "too large")
    run.handler.flush()
    assert run.wait_until(lambda stats: not stats.get("spool_waiting"), timeout=30)
    run.proxy.set_pass()
    healthy = run.errors(2, "fits")
    assert run.wait_stored(healthy.ids, timeout=30) == healthy.ids
    assert run.wait_counts(lambda counts: counts.get("sent", 0) >= 2, timeout=30)
    assert run.wait_until(lambda stats: not stats.get("spool_waiting"), timeout=10)
    assert run.stored(refused.ids) == []
    assert run.proxy.answered_ids() == set(refused.ids)
    counts = run.counts()
    assert counts["dropped_too_large"] == 2
    assert counts["sent"] == 2
    assert run.stored_count() == 2


@needs_spool
def test_spool_resending_after_a_lost_answer_stores_each_event_once(
    run_through: Callable[..., FaultRun], tmp_path: Path
) -> None:
    """The server stored the events but its answers were lost: the spool cannot know and sends
    them again; Bugsink must still hold each event id once."""
    run = run_through(spool_dir=str(tmp_path / "spool"))
    run.proxy.set_lose_answer()
    lost = run.errors(2, "answer lost")
    run.handler.flush()
    assert run.wait_until(lambda _: run.proxy.lost_answers >= 2, timeout=30)
    # The server has stored at least one of them while its answer was lost
    # (polled, bounded: Bugsink digests what it accepted in the background, and
    # a loaded machine can take a while), so the resend below repeats a stored event.
    deadline = time.monotonic() + 60
    while not run.stored(lost.ids) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert run.stored(lost.ids), run.proxy.lost_answers
    run.proxy.set_pass()
    assert run.wait_until(
        lambda stats: stats.get("sent", 0) - run.baseline.get("sent", 0) >= 2, timeout=60
    ), run.handler.stats()
    assert run.wait_stored(lost.ids, timeout=10) == lost.ids
    assert run.stored_count() == len(lost.ids)
