"""structlog to Sentry through SentryProcessor, and type-stable JSON lines through JsonRenderer.

Prints the JSON lines; with SENTRY_DSN set the error is also sent:
``SENTRY_DSN=... python examples/structlog_demo.py``.
"""

from __future__ import annotations

import os

import structlog

from sentry_logging_std import JsonRenderer, SentryProcessor


def charge(order_id: int) -> None:
    try:
        raise TimeoutError("card gateway did not answer")
    except TimeoutError as exc:
        raise RuntimeError(f"order {order_id} not charged") from exc


def main() -> int:
    # Without SENTRY_DSN (and no dsn option) the processor stays idle: lines only.
    sentry = SentryProcessor(
        environment="demo", tags={"service": "orders"}, tag_keys=["request_id"]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            sentry,  # before any processor that turns the exception into text
            JsonRenderer(service_name="orders"),
        ]
    )
    log = structlog.get_logger("orders")
    structlog.contextvars.bind_contextvars(request_id="r-1")
    log.info("cart loaded", order_id=7, items=3)
    try:
        charge(7)
    except RuntimeError:
        log.exception("order failed", order_id=7)
    sentry.flush()
    if os.environ.get("SENTRY_DSN"):
        print(f"event id {sentry.last_event_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
