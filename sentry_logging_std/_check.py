"""``python -m sentry_logging_std check``: is the configuration good, does the server take it?"""

from __future__ import annotations

import argparse
import platform
import uuid
from datetime import datetime, timezone
from typing import Any, Optional, cast

from sentry_sdk.envelope import Envelope

from sentry_logging_std._options import parse_options
from sentry_logging_std._transport import CLIENT_NAME, send_envelope

__all__ = ["add_arguments", "run"]

EXIT_ACCEPTED, EXIT_CONFIG, EXIT_REFUSED, EXIT_SERVER, EXIT_UNREACHABLE = 0, 2, 3, 4, 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="the DSN to check (default: $SENTRY_DSN)")
    parser.add_argument("--environment", help="environment (default: $SENTRY_ENVIRONMENT)")
    parser.add_argument("--release", help="release (default: $SENTRY_RELEASE)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)"
    )


def _test_event(environment: Any, release: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "platform": "python",
        "level": "info",
        "logger": "sentry_logging_std.check",
        "logentry": {
            "message": "sentry-logging-std check: test event from %s",
            "params": [platform.node()],
            "formatted": f"sentry-logging-std check: test event from {platform.node()}",
        },
        "tags": {"check": "true"},
        "sdk": {"name": CLIENT_NAME.split("/")[0], "version": CLIENT_NAME.split("/")[1]},
        "server_name": platform.node(),
    }
    if environment:
        event["environment"] = environment
    if release:
        event["release"] = release
    return event


def _client_start_failure(options: Any) -> Optional[str]:
    """Start a client as a SentryHandler with *options* would, and close it: the
    reason it fails (the installed sentry-sdk refusing an option), or None."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class Discard(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            pass  # nothing is sent by this start

    kwargs = options.client_kwargs()
    kwargs["transport"] = Discard
    try:
        sentry_sdk.init(**kwargs)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    sentry_sdk.get_client().close(timeout=0)
    return None


def run(args: argparse.Namespace) -> int:
    given = {
        key: value
        for key, value in {
            "dsn": args.dsn,
            "environment": args.environment,
            "release": args.release,
            "transport_timeout": args.timeout,
        }.items()
        if value is not None
    }
    try:
        options = parse_options(given, "check")
    except (TypeError, ValueError) as exc:
        print(f"configuration error: {exc}")
        return EXIT_CONFIG
    dsn = options.dsn
    if dsn is None:
        print("configuration error: no DSN: pass --dsn or set SENTRY_DSN")
        return EXIT_CONFIG
    where = f"project {dsn.project_id} at {dsn.scheme}://{dsn.netloc}{dsn.path_prefix}"
    print(f"DSN ok: {where}, key {dsn.public_key[:8]}...")
    print(
        f"environment: {options.environment or '(not set)'}; "
        f"release: {options.release or '(not set)'}"
    )
    failure = _client_start_failure(options)
    if failure is not None:
        print(f"client start failed: sentry-sdk's init refused this library's options: {failure}")
        return EXIT_CONFIG
    print("client start ok")
    event = _test_event(options.environment, options.release)
    envelope = Envelope(headers={"event_id": event["event_id"], "dsn": dsn.raw})
    envelope.add_event(cast(Any, event))
    result = send_envelope(dsn, envelope.serialize(), options.transport_timeout)
    if result.accepted:
        print(f"accepted: the server stored the test event, event id {event['event_id']}")
        return EXIT_ACCEPTED
    if result.status in (401, 403):
        print(
            f"refused: {dsn.netloc} does not accept key {dsn.public_key[:8]}... for project "
            f"{dsn.project_id} ({result.describe()}); check the DSN in the project's settings"
        )
        return EXIT_REFUSED
    if result.status is None:
        print(f"unreachable: could not reach {dsn.netloc}: {result.error}")
        return EXIT_UNREACHABLE
    print(f"not accepted: {result.describe()}")
    return EXIT_SERVER
