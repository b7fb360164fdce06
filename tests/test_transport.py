"""The transports, against a real HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sentry_logging_std import SentryHandler

from .conftest import shown_message
from .envelope_server import closed_port, envelope_server, silent_server

ROOT = Path(__file__).resolve().parent.parent


def attach(handler: SentryHandler, name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.propagate = False
    log.addHandler(handler)
    return log


@pytest.mark.parametrize("mode", ["background", "sync"])
def test_event_reaches_the_server(mode: str) -> None:
    """Both transports deliver the event with the DSN's key in the auth header."""
    with envelope_server() as server:
        handler = SentryHandler(dsn=server.dsn(), transport=mode)
        log = attach(handler, f"tests.deliver.{mode}")
        try:
            log.error("delivered %s", mode)
            handler.flush()
        finally:
            log.removeHandler(handler)
        assert server.wait_for(1)
        (event,) = server.events()
        assert shown_message(event) == f"delivered {mode}"
        assert "sentry_key=publickey" in server.auth_headers[0]
        assert handler.stats()["sent"] == 1


def test_close_flushes_the_queue() -> None:
    """Events queued by the background transport are sent when the handler closes."""
    with envelope_server() as server:
        handler = SentryHandler(dsn=server.dsn(), flood_limit=0)
        log = attach(handler, "tests.closeflush")
        for n in range(20):
            log.error("event %d", n)
        log.removeHandler(handler)
        handler.close()
        assert len(server.envelopes) == 20


def test_never_answering_server_does_not_block_past_the_timeout() -> None:
    """A server that accepts and never answers costs a fully synchronous log call at most
    transport_timeout."""
    with silent_server() as port:
        handler = SentryHandler(
            dsn=f"http://k@127.0.0.1:{port}/1",
            transport="sync",
            transport_timeout=0.5,
            capture="sync",
        )
        log = attach(handler, "tests.silent")
        try:
            handler.init()
            started = time.monotonic()
            log.error("nobody listens")
            elapsed = time.monotonic() - started
        finally:
            log.removeHandler(handler)
    assert elapsed < 0.5 + 1.0
    assert handler.stats() == {"dropped_network_error": 1}


def test_unreachable_server_costs_the_application_nothing() -> None:
    """With nothing listening, log calls return normally and the loss is counted."""
    handler = SentryHandler(dsn=f"http://k@127.0.0.1:{closed_port()}/1", transport="sync")
    log = attach(handler, "tests.unreachable")
    try:
        log.error("into the void")
        handler.flush()
    finally:
        log.removeHandler(handler)
    assert handler.stats() == {"dropped_network_error": 1}


def test_refused_key_is_counted() -> None:
    """A 403 from the server is counted as refused, and the application sees nothing."""
    with envelope_server() as server:
        server.status = 403
        handler = SentryHandler(dsn=server.dsn(key="wrong"), transport="sync")
        log = attach(handler, "tests.refused")
        try:
            log.error("wrong key")
            handler.flush()
        finally:
            log.removeHandler(handler)
    assert handler.stats() == {"dropped_refused": 1}


def test_rate_limit_on_transactions_does_not_stop_errors() -> None:
    """A server refusing transactions for a day still receives error events."""
    with envelope_server() as server:
        server.headers_to_send = {"X-Sentry-Rate-Limits": "86400:transaction:organization"}
        handler = SentryHandler(dsn=server.dsn(), transport="sync")
        log = attach(handler, "tests.ratelimit")
        try:
            log.error("first")
            log.error("second")
            handler.flush()
        finally:
            log.removeHandler(handler)
        assert [shown_message(e) for e in server.events()] == ["first", "second"]


def test_429_pauses_sending_and_counts() -> None:
    """After a 429 with Retry-After, events are not sent until it passes, and are counted."""
    with envelope_server() as server:
        server.status = 429
        server.headers_to_send = {"Retry-After": "60"}
        handler = SentryHandler(dsn=server.dsn(), transport="sync")
        log = attach(handler, "tests.429")
        try:
            log.error("first")
            log.error("second")
            handler.flush()
        finally:
            log.removeHandler(handler)
        assert len(server.auth_headers) == 1  # the second was never sent
    assert handler.stats() == {"dropped_rate_limited": 2}


def run_script(source: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=False,
    )


def test_interpreter_exit_flushes_pending_events() -> None:
    """A script that logs an error and exits at once still delivers it."""
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            logging.getLogger().addHandler(SentryHandler(dsn=os.environ["DSN"]))
            logging.getLogger("script").error("last words")
            """,
            DSN=server.dsn(),
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(1)
        assert [shown_message(e) for e in server.events()] == ["last words"]


def test_debug_prints_why_an_event_was_not_delivered() -> None:
    """With debug=True a refused event's reason is printed, and the script still exits 0."""
    with envelope_server() as server:
        server.status = 403
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            handler = SentryHandler(dsn=os.environ["DSN"], debug=True, transport="sync")
            logging.getLogger().addHandler(handler)
            logging.getLogger("script").error("refused")
            print("still running")
            """,
            DSN=server.dsn(key="wrong"),
        )
    assert result.returncode == 0, result.stderr
    assert "still running" in result.stdout
    assert "not delivered: HTTP 403" in result.stderr


def test_a_burst_beyond_queue_size_is_counted() -> None:
    """With the server black-holed, a burst beyond queue_size is counted, never blocking."""
    with silent_server() as port:
        handler = SentryHandler(
            dsn=f"http://k@127.0.0.1:{port}/1", queue_size=5, transport_timeout=0.2, flood_limit=0
        )
        log = attach(handler, "tests.queue")
        try:
            for n in range(50):
                log.error("burst %d", n)
            stats = handler.stats()
        finally:
            log.removeHandler(handler)
        dropped = stats.get("dropped_queue_full", 0) + stats.get("dropped_capture_queue_full", 0)
        assert dropped >= 40
        # The client may still be starting (its transport, which counts
        # "pending", not built yet): what waits is in the capture queue then.
        assert stats.get("pending", 0) + stats.get("capture_pending", 0) <= 12


@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
def test_a_burst_keeps_its_first_error(spool: bool, tmp_path: Path) -> None:
    """A burst far beyond queue_size: the first error (usually the cause) is the one
    that reaches the server, and every error is either sent or counted."""
    burst = 20_000
    with envelope_server() as server:
        options: dict[str, object] = {"spool_dir": str(tmp_path / "spool")} if spool else {}
        handler = SentryHandler(dsn=server.dsn(), queue_size=8, flood_limit=0, **options)
        log = attach(handler, f"tests.burst.{spool}")
        try:
            log.error("the cause")
            for n in range(burst):
                log.error("consequence %d", n)
            handler.flush()
            assert server.wait_for(1)
            stats = handler.stats()
        finally:
            log.removeHandler(handler)
            handler.close()
        messages = [shown_message(event) for event in server.events()]
        assert messages[0] == "the cause"
        dropped = stats.get("dropped_capture_queue_full", 0) + stats.get("dropped_queue_full", 0)
        assert dropped > 0
        assert len(messages) + dropped == burst + 1, (len(messages), stats)


def test_a_burst_does_not_starve_the_application_threads() -> None:
    """While the worker builds a burst of events, a thread that waits on I/O gets
    the GIL back within milliseconds: the worker's small system calls must not
    keep a waiting thread out for the length of the burst (it was 30-450 ms).

    In a fresh process and with the garbage collector off: its pauses (tens of
    ms with thousands of envelopes queued for a silent server) are not what
    this measures."""
    with silent_server() as port:
        result = run_script(
            """
            import gc, logging, os, time
            from sentry_logging_std import SentryHandler
            gc.disable()
            handler = SentryHandler(
                dsn=os.environ["DSN"], flood_limit=0, queue_size=5000,
                transport_timeout=30.0, shutdown_timeout=0.5,
            )
            log = logging.getLogger("script")
            log.addHandler(handler)
            log.error("warm up")
            handler.flush()
            worst = 0.0
            for _ in range(3):
                for n in range(1000):
                    log.error("burst %d", n)
                until = time.monotonic() + 10.0
                while handler.stats().get("capture_pending") and time.monotonic() < until:
                    started = time.monotonic()
                    time.sleep(0.001)  # releases the GIL and must take it back
                    worst = max(worst, time.monotonic() - started - 0.001)
            print(f"worst {worst:.4f}")
            """,
            DSN=f"http://k@127.0.0.1:{port}/1",
        )
    assert result.returncode == 0, result.stderr
    worst = float(result.stdout.rsplit("worst ", 1)[1])
    # The worker hands the GIL over every 5 ms; the rest is the margin of a loaded machine.
    assert worst < 0.040, worst


@pytest.mark.parametrize("spool", [False], ids=["memory"])
def test_exit_against_a_black_hole_has_one_budget(spool: bool, tmp_path: Path) -> None:
    """Exit with events queued for a server that never answers: the whole exit (building the
    queued events, then the client's flush) takes ``shutdown_timeout``, not once per stage."""
    with silent_server() as port:
        result = run_script(
            """
            import atexit, logging, os, time
            marks = {}
            atexit.register(lambda: print(f"exit took {time.monotonic() - marks['start']:.3f}"))
            from sentry_logging_std import SentryHandler
            spool = os.environ.get("SPOOL") or None
            handler = SentryHandler(
                dsn=os.environ["DSN"], shutdown_timeout=1.0, transport_timeout=30.0,
                spool_dir=spool, flood_limit=0, queue_size=5000,
            )
            logging.getLogger().addHandler(handler)
            for n in range(3000):  # more than one budget of building events
                logging.getLogger("script").error("into the void %d", n)
            atexit.register(lambda: marks.setdefault("start", time.monotonic()))
            """,
            DSN=f"http://k@127.0.0.1:{port}/1",
            SPOOL=str(tmp_path) if spool else "",
        )
    assert result.returncode == 0, result.stderr
    took = float(result.stdout.rsplit("exit took ", 1)[1])
    # One budget of 1 s; the margin is for a loaded machine, well below two budgets.
    assert took < 1.6, (took, result.stderr[-2000:])
