"""SentryHandler into a real Sentry-protocol server (Bugsink), read back from its API."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentry_logging_std import SentryHandler, capture_error

from .bugsink import Bugsink

ROOT = Path(__file__).resolve().parents[2]


class PaymentDeclined(Exception):
    pass


def charge(order_id: int) -> None:
    try:
        raise ConnectionError(f"card gateway timed out for order {order_id}")
    except ConnectionError as exc:
        raise PaymentDeclined(f"order {order_id} not charged") from exc


@pytest.fixture
def orders_log(bugsink: Bugsink) -> Iterator[tuple[logging.Logger, SentryHandler]]:
    """The README's dictConfig, pointed at Bugsink."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "sentry": {
                    "class": "sentry_logging_std.SentryHandler",
                    "level": "INFO",
                    "dsn": bugsink.dsn,
                    "environment": "e2e",
                    "release": "orders@1.4.2",
                    "tags": {"service": "orders"},
                    "tag_keys": ["order_id"],
                }
            },
            "loggers": {"orders": {"handlers": ["sentry"], "level": "INFO", "propagate": False}},
        }
    )
    log = logging.getLogger("orders")
    (handler,) = log.handlers
    assert isinstance(handler, SentryHandler)
    yield log, handler
    log.removeHandler(handler)
    handler.close()


def test_chained_exception_arrives_whole(
    bugsink: Bugsink, orders_log: tuple[logging.Logger, SentryHandler]
) -> None:
    """Bugsink stores the chain with frames, tags, environment, release, logger, template, crumbs"""
    log, handler = orders_log
    log.info("cart loaded for order %s", 41)
    try:
        charge(41)
    except PaymentDeclined:
        log.exception("order %s failed", 41, extra={"order_id": 41, "amount": 9.5})
    handler.flush()
    (event_id,) = [e["event_id"] for e in _sent_events(bugsink, "order 41 failed")]
    data = bugsink.event(event_id)
    values = data["exception"]["values"]
    assert [v["type"] for v in values] == ["ConnectionError", "PaymentDeclined"]
    assert values[1]["stacktrace"]["frames"][-1]["function"] == "charge"
    assert values[0]["stacktrace"]["frames"][-1]["function"] == "charge"
    assert data["tags"]["service"] == "orders"
    assert data["tags"]["order_id"] == "41"
    assert data["environment"] == "e2e"
    assert data["release"] == "orders@1.4.2"
    assert data["logger"] == "orders"
    assert data["logentry"]["message"] == "order %s failed"
    assert data["contexts"]["extra"] == {"amount": 9.5}
    crumbs = [c["message"] for c in data["breadcrumbs"]["values"]]
    assert crumbs == ["cart loaded for order 41"]


def _sent_events(bugsink: Bugsink, formatted: str, timeout: float = 10.0) -> list[dict[str, str]]:
    """Events of the project whose formatted message is *formatted*."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for issue in bugsink.issues():
            for event in bugsink.events(issue["id"]):
                data = bugsink.event(event["event_id"])
                if data.get("logentry", {}).get("formatted") == formatted:
                    found.append({"event_id": event["event_id"], "issue": issue["id"]})
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_repeated_errors_are_one_issue(
    bugsink: Bugsink, orders_log: tuple[logging.Logger, SentryHandler]
) -> None:
    """Three orders failing the same way land in one Bugsink issue with three events."""
    log, handler = orders_log
    for order_id in (51, 52, 53):
        try:
            charge(order_id)
        except PaymentDeclined:
            log.exception("order %s failed", order_id)
    handler.flush()
    issues = {
        e["issue"]
        for order_id in (51, 52, 53)
        for e in _sent_events(bugsink, f"order {order_id} failed")
    }
    assert len(issues) == 1
    (issue,) = issues
    assert len(bugsink.events(issue)) >= 3


def test_error_without_exception_has_the_call_site(
    bugsink: Bugsink, orders_log: tuple[logging.Logger, SentryHandler]
) -> None:
    """A plain logger.error arrives with the stack of the code that logged it."""
    log, handler = orders_log
    log.error("stock for %s below zero", "widgets")
    handler.flush()
    (sent,) = _sent_events(bugsink, "stock for widgets below zero")
    data = bugsink.event(sent["event_id"])
    frames = data["threads"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "test_error_without_exception_has_the_call_site"


def test_capture_error_returns_the_stored_id(
    bugsink: Bugsink, orders_log: tuple[logging.Logger, SentryHandler]
) -> None:
    """capture_error's returned id is the id Bugsink stores the event under."""
    _, handler = orders_log
    try:
        charge(61)
    except PaymentDeclined as exc:
        event_id = capture_error(exc, tags={"path": "capture_error"})
    assert event_id is not None
    handler.flush()
    data = bugsink.event(event_id)
    assert data["tags"]["path"] == "capture_error"
    assert data["exception"]["values"][-1]["value"] == "order 61 not charged"


def test_wrong_key_is_refused_quietly(bugsink: Bugsink) -> None:
    """With a wrong key Bugsink answers 403: the application sees nothing, the drop is counted."""
    before = bugsink.event_count()
    handler = SentryHandler(dsn=bugsink.wrong_key_dsn, transport="sync", transport_timeout=5)
    log = logging.getLogger("orders.wrongkey")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.error("never stored")
        handler.flush()
    finally:
        log.removeHandler(handler)
    assert handler.stats() == {"dropped_refused": 1}
    assert bugsink.event_count() == before


def test_check_command_against_bugsink(bugsink: Bugsink) -> None:
    """`check` reports the stored event id for the right key and "refused" for the wrong one."""

    def check(dsn: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sentry_logging_std", "check", "--dsn", dsn],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )

    accepted = check(bugsink.dsn)
    assert accepted.returncode == 0, accepted.stdout
    event_id = accepted.stdout.split("event id ")[1].split()[0]
    assert bugsink.event(event_id)["tags"]["check"] == "true"
    refused = check(bugsink.wrong_key_dsn)
    assert refused.returncode == 3, refused.stdout
    assert "refused" in refused.stdout


def run_demo(workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The demo as a new user runs it, in a directory of its own (it keeps a spool there)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=workdir,
        env={**environ, "PYTHONPATH": str(ROOT), **env},
    )


def test_demo_sends_to_the_dsn_and_prints_the_event_id(bugsink: Bugsink, tmp_path: Path) -> None:
    """The README's demo, with SENTRY_DSN set, stores its chained exception and prints its id."""
    result = run_demo(tmp_path, SENTRY_DSN=bugsink.dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    event_id = result.stdout.split("event id ")[1].split()[0]
    data = bugsink.event(event_id)
    assert [v["type"] for v in data["exception"]["values"]] == ["LookupError", "RuntimeError"]
    assert data["logentry"]["message"] == "order %s failed"
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (error_line,) = [line for line in lines if line["log"]["level"] == "error"]
    assert error_line["sentry"]["event_id"] == event_id  # the log line names its Sentry event
    assert error_line["order_id"] == 7


def test_demo_without_a_dsn_shows_the_event(tmp_path: Path) -> None:
    """Without SENTRY_DSN the demo prints the event it would have sent."""
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "would have been sent" in result.stdout
    assert "RuntimeError: order 7 could not be placed" in result.stdout
