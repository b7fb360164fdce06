"""``python -m sentry_logging_std check`` says plainly what the server did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .envelope_server import closed_port, envelope_server

ROOT = Path(__file__).resolve().parent.parent


def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return subprocess.run(
        [sys.executable, "-m", "sentry_logging_std", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, "PYTHONPATH": str(ROOT), **env},
    )


def test_accepted_prints_the_event_id() -> None:
    """An accepting server: exit 0 and the id of the event it stored."""
    with envelope_server() as server:
        result = check("--dsn", server.dsn(), "--environment", "ci")
        (event,) = server.events()
    assert result.returncode == 0, result.stdout
    assert f"event id {event['event_id']}" in result.stdout
    assert event["environment"] == "ci"


def test_refused_key_names_the_project() -> None:
    """A 403: exit 3, and the message says the key was refused for which project."""
    with envelope_server() as server:
        server.status = 403
        result = check("--dsn", server.dsn(key="nope", project="17"))
    assert result.returncode == 3
    assert "refused" in result.stdout
    assert "project 17" in result.stdout


def test_unreachable_server() -> None:
    """Nothing listening: exit 5, "unreachable"."""
    result = check("--dsn", f"http://k@127.0.0.1:{closed_port()}/1", "--timeout", "2")
    assert result.returncode == 5
    assert result.stdout.splitlines()[-1].startswith("unreachable")


def test_dsn_from_the_environment_and_bad_dsn() -> None:
    """SENTRY_DSN is used when --dsn is absent; a malformed one is a configuration error."""
    result = check(SENTRY_DSN="https://missing-project@host/")
    assert result.returncode == 2
    assert "dsn: malformed DSN" in result.stdout
    assert check().returncode == 2


def test_check_starts_a_client_as_the_handler_would() -> None:
    """The check starts the client with this library's options (what sentry-sdk 3.0
    refused): a start that fails is reported with its reason, a good one says ok."""
    from sentry_sdk.integrations import Integration

    from sentry_logging_std._check import _client_start_failure
    from sentry_logging_std._options import parse_options

    class Broken(Integration):
        identifier = "broken_for_check"

        @staticmethod
        def setup_once() -> None:
            raise TypeError("Unknown option 'before_send_transaction'")

    good = parse_options({"dsn": "http://k@127.0.0.1:9/1"}, "check")
    assert _client_start_failure(good) is None
    bad = parse_options({"dsn": "http://k@127.0.0.1:9/1", "integrations": [Broken()]}, "check")
    assert _client_start_failure(bad) == "TypeError: Unknown option 'before_send_transaction'"
    with envelope_server() as server:
        result = check("--dsn", server.dsn())
    assert "client start ok" in result.stdout
