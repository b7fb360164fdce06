"""The README's demo: logging configured with dictConfig, one chained exception to Sentry.

The same records are written as JSON lines (JsonFormatter) on stdout; the
error's line names the Sentry event it became.

With SENTRY_DSN set, the event goes to that server and the demo prints its id.
Without it, the demo shows the event it would have sent, captured in-process.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from sentry_logging_std import SentryHandler


class ShowTransport(Transport):
    """Keeps events in memory, so the demo can show them without a server."""

    def __init__(self) -> None:
        super().__init__({"dsn": None})
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(dict(event))


def place_order(order_id: int) -> None:
    stock = {"widgets": 0}
    try:
        if stock["widgets"] < 1:
            raise LookupError(f"no widgets left for order {order_id}")
    except LookupError as exc:
        raise RuntimeError(f"order {order_id} could not be placed") from exc


def main() -> int:
    dsn = os.environ.get("SENTRY_DSN")
    shown = ShowTransport()
    sentry_options: dict[str, Any] = {
        "class": "sentry_logging_std.SentryHandler",
        "level": "INFO",
        "environment": os.environ.get("SENTRY_ENVIRONMENT", "demo"),
        "release": "orders@1.4.2",
        "tags": {"service": "orders"},
        "tag_keys": ["order_id"],
    }
    if dsn:
        sentry_options["dsn"] = dsn
    else:
        # No server: a DSN that is never contacted, and a transport that keeps the event.
        sentry_options["dsn"] = "https://demo@sentry.invalid/1"
        sentry_options["transport"] = shown
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {
                    "()": "sentry_logging_std.JsonFormatter",
                    "service_name": "orders",
                    "fields": {"order_id": "long"},
                }
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "stream": "ext://sys.stdout",
                },
                "sentry": sentry_options,
            },
            "root": {"handlers": ["console", "sentry"], "level": "INFO"},
        }
    )
    log = logging.getLogger("orders")
    log.info("cart loaded for order %s", 7)
    try:
        place_order(7)
    except RuntimeError:
        log.exception("order %s failed", 7, extra={"order_id": 7, "customer": "c-42"})

    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, SentryHandler)]
    handler.flush()
    if dsn:
        stats = handler.stats()
        if stats.get("sent"):
            print(
                f"\nSent to {handler.options.dsn.netloc if handler.options.dsn else '?'}: "
                f"event id {handler.last_event_id}"
            )
            return 0
        print(f"\nThe event was not delivered: {stats} (run with debug for the reason)")
        return 1
    (event,) = shown.events
    summary = {
        "event_id": event["event_id"],
        "level": event["level"],
        "logger": event["logger"],
        "logentry": event["logentry"],
        "exception chain": [f"{v['type']}: {v['value']}" for v in event["exception"]["values"]],
        "frames of the last exception": [
            f"{f['function']} ({f['filename']}:{f['lineno']})"
            for f in event["exception"]["values"][-1]["stacktrace"]["frames"]
        ],
        "tags": event["tags"],
        "contexts.extra": event["contexts"]["extra"],
        "breadcrumbs": [b["message"] for b in event["breadcrumbs"]["values"]],
        "environment": event["environment"],
        "release": event["release"],
    }
    print(
        "\nAbove, the JSON log lines (JsonFormatter); the error's line carries "
        f"sentry.event_id {event['event_id']}, the id of this event."
    )
    print("\nNo SENTRY_DSN set: this is the event that would have been sent:\n")
    print(json.dumps(summary, indent=2, default=str))
    print("\nSet SENTRY_DSN=https://<key>@<host>/<project> and run again to send it;")
    print("`python -m sentry_logging_std check` tests a DSN.")
    sentry_sdk.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
