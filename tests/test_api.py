"""capture_error: an exception held without logging it."""

from __future__ import annotations

import pytest
import sentry_sdk

from sentry_logging_std import SentryHandler, capture_error

from .conftest import TEST_DSN, CapturingTransport


def fail_deep() -> None:
    try:
        int("seven")
    except ValueError as exc:
        raise LookupError("no such order") from exc


def test_capture_error_returns_the_event_id(transport: CapturingTransport) -> None:
    """The returned id is the id of the event sent, which carries the chain, tags and context."""
    SentryHandler(dsn=TEST_DSN, transport=transport)  # configured, not started
    try:
        fail_deep()
    except LookupError as exc:
        event_id = capture_error(
            exc, tags={"order id": 7}, context={"cart": [1, 2]}, level="warning"
        )
    (event,) = transport.events
    assert event_id == event["event_id"]
    assert [v["type"] for v in event["exception"]["values"]] == ["ValueError", "LookupError"]
    assert event["tags"] == {"order_id": "7"}
    assert event["contexts"]["context"] == {"cart": [1, 2]}
    assert event["level"] == "warning"


def test_capture_error_uses_the_applications_client(transport: CapturingTransport) -> None:
    """With no handler at all, the application's client is used."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)
    event_id = capture_error(RuntimeError("plain"))
    (event,) = transport.events
    assert event["event_id"] == event_id
    assert event["exception"]["values"][0]["value"] == "plain"


def test_none_is_a_no_op(transport: CapturingTransport) -> None:
    """capture_error(None) sends nothing and returns None."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)
    assert capture_error(None) is None
    assert transport.events == []


def test_without_any_client_returns_none() -> None:
    """No DSN anywhere: nothing is sent and None comes back."""
    assert capture_error(RuntimeError("nowhere")) is None


def test_bad_arguments_are_errors() -> None:
    """A non-exception or an unknown level is the caller's mistake, reported at once."""
    with pytest.raises(TypeError, match="exception"):
        capture_error("not an exception")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        capture_error(RuntimeError(), level="loud")
