"""SentrySink into Bugsink: a loguru exception stored with its template, tags and breadcrumbs."""

from __future__ import annotations

from loguru import logger

from sentry_logging_std import SentrySink

from .bugsink import Bugsink


def test_loguru_exception_arrives_whole(bugsink: Bugsink) -> None:
    """The stored event has the chain, the template, bound tags, context and breadcrumbs."""
    logger.remove()
    sink = SentrySink(dsn=bugsink.dsn, environment="e2e", tag_keys=["request_id"])
    logger.add(sink, level="INFO")
    try:
        with logger.contextualize(request_id="r-77"):
            logger.info("cart loaded")
            try:
                try:
                    raise TimeoutError("gateway")
                except TimeoutError as exc:
                    raise RuntimeError("order 77 not charged") from exc
            except RuntimeError:
                logger.bind(order_id=77).exception("order {} failed", 77)
        sink.flush()
    finally:
        logger.remove()
    assert sink.last_event_id is not None
    data = bugsink.event(sink.last_event_id)
    assert [v["type"] for v in data["exception"]["values"]] == ["TimeoutError", "RuntimeError"]
    assert data["logentry"]["message"] == "order {} failed"
    assert data["logentry"]["formatted"] == "order 77 failed"
    assert data["tags"]["request_id"] == "r-77"
    assert data["contexts"]["extra"] == {"order_id": 77}
    assert data["environment"] == "e2e"
    assert [c["message"] for c in data["breadcrumbs"]["values"]] == ["cart loaded"]
