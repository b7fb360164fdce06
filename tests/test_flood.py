"""Flood control: a few events per error per window, and every record held back reaches
the server as a count — when the window ends, at flush, at close and at exit."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from loguru import logger

from sentry_logging_std import SentrySink
from sentry_logging_std._flood import SEND, FloodGate, Held

from .conftest import TEST_DSN, CapturingTransport, MakeHandler
from .envelope_server import envelope_server
from .test_delivery import run_script


def occurrences(events: list[dict[str, Any]]) -> int:
    """How many records *events* stand for: each event, plus the others its flood count names."""
    return sum(1 + e["contexts"].get("flood_control", {}).get("suppressed", 0) for e in events)


def wait_for_events(transport: CapturingTransport, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(transport.events) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return transport.events


def charge(log: logging.Logger, n: int) -> None:
    log.error("charge %s failed", n)  # one call site: one flood key


def test_the_count_is_sent_when_the_window_ends(make_handler: MakeHandler) -> None:
    """40 errors in a burst, limit 20: 20 sent at once, and one more when the window
    ends, the first record held back, carrying the count of the other 19."""
    handler, transport = make_handler(flood_limit=20, flood_window=1.0)
    assert handler.init()  # the client's start (imports) is not part of the window
    log = logging.getLogger("tests.app")
    started = time.monotonic()
    for n in range(40):
        charge(log, n)
    sent_in_window = len(transport.events)
    if time.monotonic() - started < 0.9:  # (a very slow machine may be past the window)
        assert sent_in_window == 20  # before the window ends: the limit, no more
    events = wait_for_events(transport, 21, timeout=5)
    print("events:", len(events), "standing for", occurrences(events))
    assert len(events) == 21
    summary = events[-1]
    assert summary["logentry"]["params"] == [20]  # the first one held back
    flood = summary["contexts"]["flood_control"]
    assert flood["suppressed"] == 19
    assert flood["limit"] == 20
    assert flood["window_seconds"] == 1.0
    first = datetime.fromisoformat(flood["first_held_back"])
    last = datetime.fromisoformat(flood["last_held_back"])
    assert first <= last
    assert (last - first).total_seconds() < 1.0
    assert occurrences(events) == 40
    assert handler.stats()["suppressed_flood"] == 19
    # Grouped like its siblings: the same template, logger and (no) fingerprint.
    assert {e["logentry"]["message"] for e in events} == {"charge %s failed"}
    assert "flood_control" not in events[0]["contexts"]


def test_flush_and_close_send_the_count_before_the_window_ends(make_handler: MakeHandler) -> None:
    handler, transport = make_handler(flood_limit=2, flood_window=3600)
    log = logging.getLogger("tests.app")
    for n in range(5):
        charge(log, n)
    handler.flush()
    events = transport.events
    assert len(events) == 3
    assert occurrences(events) == 5
    assert events[-1]["contexts"]["flood_control"]["suppressed"] == 2
    # The window goes on: the next records are still held back, and close sends them.
    for n in range(5, 9):
        charge(log, n)
    assert len(transport.events) == 3
    handler.close()
    events = transport.events
    print("after close:", len(events), "events standing for", occurrences(events))
    assert len(events) == 4
    assert occurrences(events) == 9
    assert events[-1]["logentry"]["params"] == [5]
    assert events[-1]["contexts"]["flood_control"]["suppressed"] == 3


def test_an_exit_sends_what_flood_control_held_back() -> None:
    """The issue's case: 40 errors, then the program ends. The server learns of all 40."""
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            log = logging.getLogger("script")
            log.addHandler(SentryHandler(dsn=os.environ["DSN"], shutdown_timeout=10))
            for n in range(40):
                log.exception("charge %s failed", n)
            """,
            DSN=server.dsn(),
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(21, timeout=10)
        time.sleep(0.2)  # nothing more comes
        events = server.events()
    print("server received", len(events), "events standing for", occurrences(events))
    assert len(events) == 21
    assert occurrences(events) == 40


def test_every_record_is_sent_or_counted_exactly_under_threads(make_handler: MakeHandler) -> None:
    """Eight threads log the same error while windows end under them: what the server
    is told adds up to what was logged, and stats() agrees."""
    handler, transport = make_handler(flood_limit=3, flood_window=0.05)
    log = logging.getLogger("tests.app")

    def work() -> None:
        for n in range(250):
            charge(log, n)
            if n % 50 == 0:
                time.sleep(0.03)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    handler.flush()
    events = transport.events
    held_back = sum(e["contexts"].get("flood_control", {}).get("suppressed", 0) for e in events)
    print("2000 records:", len(events), "events,", held_back, "counted on them")
    assert occurrences(events) == 2000
    assert handler.stats()["suppressed_flood"] == held_back


def test_different_errors_are_counted_apart(make_handler: MakeHandler) -> None:
    handler, transport = make_handler(flood_limit=1, flood_window=3600)
    log = logging.getLogger("tests.app")
    for n in range(4):
        log.error("disk full", extra={"fingerprint": ["disk"]})
        log.error("queue full", extra={"fingerprint": ["queue", str(n % 2)]})
    handler.flush()
    counts = {
        tuple(e["fingerprint"]): e["contexts"].get("flood_control", {}).get("suppressed")
        for e in transport.events
        if "flood_control" in e["contexts"]
    }
    assert counts == {("disk",): 2, ("queue", "0"): 0, ("queue", "1"): 0}
    assert occurrences(transport.events) == 8


def test_the_loguru_sink_sends_its_counts_at_flush() -> None:
    logger.remove()
    transport = CapturingTransport()
    sink = SentrySink(dsn=TEST_DSN, transport=transport, flood_limit=2, flood_window=3600)
    logger.add(sink, level="INFO")
    try:
        for n in range(5):
            logger.error("disk {} full", n)  # one call site: one flood key
        sink.flush()
    finally:
        logger.remove()
    events = transport.events
    assert len(events) == 3
    assert occurrences(events) == 5
    assert events[-1]["contexts"]["flood_control"]["suppressed"] == 2
    assert sink.stats()["suppressed_flood"] == 2


def test_flood_limit_zero_sends_every_record(make_handler: MakeHandler) -> None:
    handler, transport = make_handler(flood_limit=0)
    log = logging.getLogger("tests.app")
    for n in range(50):
        charge(log, n)
    assert len(transport.events) == 50
    assert "suppressed_flood" not in handler.stats()


def test_keys_are_bounded_and_a_forgotten_key_sends_its_count() -> None:
    """Ten thousand distinct errors keep at most max_keys keys; a key pushed out
    sends what it held back then, so nothing is forgotten uncounted."""
    sent: list[Held] = []
    timers: list[Any] = []
    gate = FloodGate(1, 60, sent.append, lambda delay, call: timers.append(call), max_keys=100)
    for n in range(10_000):
        assert gate.admit(("k", n)) is SEND
        held = gate.admit(("k", n))
        assert isinstance(held, Held)
        gate.keep(held, f"entry {n}", None)
        assert gate.admit(("k", n)) is None
    assert len(gate._keys) == 100
    assert len(sent) == 10_000 - 100
    assert all(h.others == 1 for h in sent)
    gate.release()
    assert len(sent) == 10_000
    assert sorted(h.entry for h in sent) == sorted(f"entry {n}" for n in range(10_000))
    assert gate.suppressed_total == 10_000
    for call in timers:  # the windows' ends come later: nothing is sent twice
        call()
    assert len(sent) == 10_000


def test_a_window_that_ends_while_the_record_is_kept_sends_it_once() -> None:
    """The window may end between admit() and keep() (another thread builds the entry)."""
    sent: list[Held] = []
    timers: list[Any] = []
    gate = FloodGate(1, 60, sent.append, lambda delay, call: timers.append(call))
    assert gate.admit("k") is SEND
    held = gate.admit("k")
    assert isinstance(held, Held)
    assert gate.admit("k") is None
    timers[0]()  # the window ends: nothing to send yet
    assert sent == []
    gate.keep(held, "entry", None)  # kept late: sent at once
    assert sent == [held]
    assert held.others == 1
    gate.release()
    assert sent == [held]


def test_a_forked_child_never_sends_what_its_parent_held_back() -> None:
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            handler = SentryHandler(dsn=os.environ["DSN"], flood_limit=1, shutdown_timeout=10)
            log = logging.getLogger("script")
            log.addHandler(handler)
            for n in range(3):
                log.error("charge %s failed", n)   # 1 sent, 1 kept, 1 counted
            pid = os.fork()
            if pid == 0:
                log.error("child error")
                handler.flush()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert status == 0, status
            """,
            DSN=server.dsn(),
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(3, timeout=10)
        time.sleep(0.3)  # nothing more comes
        events = server.events()
    messages = sorted(e["logentry"].get("formatted", e["logentry"]["message"]) for e in events)
    assert messages == ["charge 0 failed", "charge 1 failed", "child error"]
    assert occurrences(events) == 4
