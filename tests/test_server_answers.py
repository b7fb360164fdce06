"""Every server answer is survivable: delays clamped, sending threads that never die, backoff."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from sentry_logging_std import SentryHandler
from sentry_logging_std._spool import Spool
from sentry_logging_std._transport import (
    RETRY_AFTER_MAX,
    SendResult,
    _RateLimits,
    _retry_after,
)

from .envelope_server import envelope_server


def attach(handler: SentryHandler, name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.propagate = False
    log.addHandler(handler)
    return log


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), True)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("99999999999", RETRY_AFTER_MAX, RETRY_AFTER_MAX),
        ("1e308", RETRY_AFTER_MAX, RETRY_AFTER_MAX),
        ("inf", RETRY_AFTER_MAX, RETRY_AFTER_MAX),
        ("-5", 0.0, 0.0),
        ("-inf", 0.0, 0.0),
        ("nan", 60.0, 60.0),
        ("soon", 60.0, 60.0),
        ("", 0.0, 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", RETRY_AFTER_MAX, RETRY_AFTER_MAX),
        ("Mon, 01 Jan 1990 00:00:00 GMT", 0.0, 0.0),
        ("Mon, 99 Foo 1990 00:00:00 GMT", 60.0, 60.0),
    ],
)
def test_retry_after_is_clamped_and_never_raises(header: str, low: float, high: float) -> None:
    assert low <= _retry_after(header) <= high


def test_retry_after_as_a_date_is_obeyed() -> None:
    assert 100 <= _retry_after(http_date(120)) <= 121


def test_rate_limit_headers_are_clamped_and_never_raise() -> None:
    limits = _RateLimits()
    limits.update(
        SendResult(
            status=200,
            rate_limits="99999999999:error:organization, nan:default, junk, -5:transaction,,::",
        )
    )
    assert limits.remaining("error") <= RETRY_AFTER_MAX
    assert limits.remaining("error") > RETRY_AFTER_MAX - 5
    assert limits.remaining("default") <= 60.0
    assert limits.remaining("transaction") == 0.0
    limits.update(SendResult(status=429, retry_after=float("inf")))
    assert limits.remaining("anything") <= RETRY_AFTER_MAX


def test_a_huge_retry_after_never_stops_the_spool(tmp_path: Path) -> None:
    """429 with ``Retry-After: 99999999999``: later events are still written to disk."""
    with envelope_server() as server:
        server.status = 429
        server.headers_to_send = {"Retry-After": "99999999999"}
        handler = SentryHandler(dsn=server.dsn(), spool_dir=str(tmp_path), flood_limit=0)
        log = attach(handler, "tests.answers.huge")
        try:
            log.error("first")
            handler.flush()
            assert server.wait_for_requests(1, timeout=10)
            for n in range(5):
                log.error("later %d", n)
            # The worker writes them (no flush: that would write on this thread).
            deadline = time.monotonic() + 10
            while len(Spool(tmp_path).waiting()) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            log.removeHandler(handler)
        assert len(Spool(tmp_path).waiting()) == 6
        alive = {thread.name for thread in threading.enumerate() if thread.is_alive()}
        assert {"sentry-logging-std.spool-sender", "sentry-logging-std.spool-writer"} <= alive
        stats = handler.stats()
        assert "spool_internal_errors" not in stats
        assert server.requests == 1  # the others wait for the limit, on disk
        handler.close()


def test_a_failing_server_gets_backoff_not_a_request_per_event() -> None:
    """Without a spool: 100 events against a server answering 500 are a handful of requests,
    and the queue waits (bounded) rather than being thrown away; once the server answers, they go.
    """
    with envelope_server() as server:
        server.status = 500
        handler = SentryHandler(dsn=server.dsn(), flood_limit=0)
        log = attach(handler, "tests.answers.backoff")
        try:
            for n in range(100):
                log.error("failing %d", n)
            deadline = time.monotonic() + 10
            while server.requests < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            requests = server.requests
            assert 1 <= requests <= 10, requests
            server.status = 200
            # Backoff is at most a few seconds after three failures; the rest then goes.
            assert server.wait_for(100 - requests, timeout=30)
        finally:
            log.removeHandler(handler)
            handler.close()
        stats = handler.stats()
        assert stats["sent"] == 100 - requests
        assert stats["dropped_server_error"] == requests
