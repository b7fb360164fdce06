"""loguru to Sentry through SentrySink.

Run with SENTRY_DSN set to send the event: ``SENTRY_DSN=... python examples/loguru_demo.py``.
"""

from __future__ import annotations

import os
import sys

from loguru import logger

from sentry_logging_std import SentrySink


def charge(order_id: int) -> None:
    try:
        raise TimeoutError("card gateway did not answer")
    except TimeoutError as exc:
        raise RuntimeError(f"order {order_id} not charged") from exc


def main() -> int:
    if not os.environ.get("SENTRY_DSN"):
        print("Set SENTRY_DSN=https://<key>@<host>/<project> to send the event.")
        return 0
    sink = SentrySink(environment="demo", tags={"service": "orders"}, tag_keys=["request_id"])
    logger.add(sink, level="INFO")
    with logger.contextualize(request_id="r-1"):
        logger.info("cart loaded for order {}", 7)
        try:
            charge(7)
        except RuntimeError:
            logger.bind(order_id=7).exception("order {} failed", 7)
    sink.flush()
    print(f"event id {sink.last_event_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
