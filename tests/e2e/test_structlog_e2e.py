"""SentryProcessor into Bugsink: a structlog exception stored whole, tags and breadcrumbs too."""

from __future__ import annotations

import io
import json

import structlog

from sentry_logging_std import JsonRenderer, SentryProcessor

from .bugsink import Bugsink


def test_structlog_exception_arrives_whole(bugsink: Bugsink) -> None:
    """The stored event has the chain, bound context as tags, the call's keys as context,
    the breadcrumbs; the JSON line names the stored event."""
    processor = SentryProcessor(dsn=bugsink.dsn, environment="e2e", tag_keys=["request_id"])
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            processor,
            JsonRenderer(service_name="orders"),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("shop")
        structlog.contextvars.bind_contextvars(request_id="r-88")
        log.info("cart loaded")
        try:
            try:
                raise TimeoutError("gateway")
            except TimeoutError as exc:
                raise RuntimeError("order 88 not charged") from exc
        except RuntimeError:
            log.exception("order failed", order_id=88)
        processor.flush()
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
    assert processor.last_event_id is not None
    data = bugsink.event(processor.last_event_id)
    assert [v["type"] for v in data["exception"]["values"]] == ["TimeoutError", "RuntimeError"]
    assert data["logentry"]["message"] == "order failed"
    assert data["tags"]["request_id"] == "r-88"
    assert data["contexts"]["extra"] == {"order_id": 88}
    assert data["environment"] == "e2e"
    assert [c["message"] for c in data["breadcrumbs"]["values"]] == ["cart loaded"]
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["sentry"]["event_id"] == processor.last_event_id
