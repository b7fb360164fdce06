"""The README's demo: logging configured with dictConfig, one chained exception to Sentry.

The same records are written as JSON lines (JsonFormatter) on stdout; the
error's line names the Sentry event it became.

Without SENTRY_DSN the event is built as it would be sent and written to a spool
in the working directory (./.sentry-spool, or $SENTRY_SPOOL_DIR); the demo shows
it and the one command that delivers it later. With SENTRY_DSN set, the event
goes to that server, and so does whatever waited in the spool.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
from typing import Any

from sentry_logging_std import SentryHandler

SPOOL_DIR = os.environ.get("SENTRY_SPOOL_DIR") or ".sentry-spool"

#: The events as they leave the process (after scrubbing), for the demo to show.
built: list[dict[str, Any]] = []


def keep_a_copy(event: Any, hint: Any) -> Any:
    built.append(dict(event))
    return event


def place_order(order_id: int) -> None:
    stock = {"widgets": 0}
    try:
        if stock["widgets"] < 1:
            raise LookupError(f"no widgets left for order {order_id}")
    except LookupError as exc:
        raise RuntimeError(f"order {order_id} could not be placed") from exc


def main() -> int:
    dsn = os.environ.get("SENTRY_DSN")
    sentry_options: dict[str, Any] = {
        "class": "sentry_logging_std.SentryHandler",
        "level": "INFO",
        "environment": os.environ.get("SENTRY_ENVIRONMENT", "demo"),
        "release": "orders@1.4.2",
        "tags": {"service": "orders"},
        "tag_keys": ["order_id"],
        # Events that cannot be delivered now wait here; with no DSN, all of them do.
        "spool_dir": SPOOL_DIR,
        "before_send": keep_a_copy,
    }
    if dsn:
        sentry_options["dsn"] = dsn
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
    spool = os.path.abspath(SPOOL_DIR)
    if dsn:
        stats = handler.stats()
        if stats.get("sent"):
            print(
                f"\nSent to {handler.options.dsn.netloc if handler.options.dsn else '?'}: "
                f"event id {handler.last_event_id}"
            )
            if stats["sent"] > 1:
                print(f"Also delivered {stats['sent'] - 1} event(s) that waited in {spool}.")
            return 0
        print(
            f"\nThe event was not delivered yet: {stats} (run with debug for the reason);"
            f"\nit waits in {spool} and goes out on the next run."
        )
        return 1
    (event,) = built
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
    waiting = handler.stats().get("spool_waiting", 0)
    print(f"\nIt waits in {spool} ({waiting} event(s) there now). To deliver them:")
    print(
        "  SENTRY_DSN=https://<key>@<host>/<project> .venv/bin/python -m sentry_logging_std "
        f"spool send --dir {spool}"
    )
    print("(or run ./scripts/demo again with SENTRY_DSN set; `python -m sentry_logging_std check`")
    print("tests a DSN).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
