"""Smoke tests of the Bugsink fixture itself, driven by a plain sentry-sdk client."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import sentry_sdk
from sentry_sdk.transport import HttpTransport

from .bugsink import Bugsink


class RecordingTransport(HttpTransport):
    """The SDK's own HTTP transport, remembering why it dropped events (e.g. ``status_403``)."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.dropped: list[str] = []

    def on_dropped_event(self, _reason: str) -> None:
        self.dropped.append(_reason)


@contextlib.contextmanager
def scoped_client(dsn: str) -> Iterator[tuple[sentry_sdk.Scope, RecordingTransport]]:
    """A client bound to a new scope only (global SDK state untouched); closed, so flushed, after.

    No default integrations: they would patch the stdlib (http.client, logging) process-wide. No
    client reports: they are envelopes of their own, which would muddle what the transport saw.
    """
    client = sentry_sdk.Client(
        dsn=dsn,
        default_integrations=False,
        send_client_reports=False,
        transport=RecordingTransport,
    )
    transport = client.transport
    assert isinstance(transport, RecordingTransport)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            yield scope, transport
    finally:
        client.close(timeout=10)


def post_envelope(dsn: str, event: dict[str, Any]) -> int:
    """POST one event envelope straight to a DSN's envelope endpoint; return the HTTP status."""
    parts = urllib.parse.urlsplit(dsn)
    url = f"{parts.scheme}://{parts.hostname}:{parts.port}/api{parts.path}/envelope/"
    body = b"".join(
        json.dumps(line).encode() + b"\n"
        for line in ({"event_id": event["event_id"]}, {"type": "event"}, event)
    )
    auth = f"Sentry sentry_version=7, sentry_key={parts.username}, sentry_client=e2e-raw/0"
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def raw_event(message: str) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "platform": "python",
        "level": "error",
        "message": message,
    }


def test_event_round_trip(bugsink: Bugsink) -> None:
    """An SDK event is stored as sent: its message and tag come back through ``event()``."""
    message = f"e2e round trip {uuid.uuid4().hex}"
    with scoped_client(bugsink.dsn) as (scope, transport):
        scope.set_tag("e2e_tag", "tag value")
        event_id = scope.capture_message(message, level="error")
    assert event_id is not None
    payload = bugsink.event(event_id)
    assert payload["event_id"] == event_id
    assert payload["message"] == message
    assert payload["level"] == "error"
    assert payload["tags"] == {"e2e_tag": "tag value"}
    assert transport.dropped == []
    # the dashed form of the id finds the same event
    assert bugsink.event(str(uuid.UUID(event_id)))["message"] == message


def test_same_fingerprint_lands_in_one_issue(bugsink: Bugsink) -> None:
    """Two events with one fingerprint make one issue holding both, as ``issues()``/``events()``."""
    message = f"e2e grouped {uuid.uuid4().hex}"
    with scoped_client(bugsink.dsn) as (scope, _):
        scope.fingerprint = [f"e2e-{uuid.uuid4().hex}"]
        ids = [scope.capture_message(message) for _ in range(2)]
    event_ids = [event_id for event_id in ids if event_id is not None]
    assert len(event_ids) == 2
    for event_id in event_ids:
        bugsink.event(event_id)  # waits until stored

    records = [bugsink.lookup(event_id) for event_id in event_ids]
    issue_ids = {record["issue"] for record in records if record is not None}
    assert len(issue_ids) == 1
    (issue_id,) = issue_ids
    (issue,) = [issue for issue in bugsink.issues() if issue["id"] == issue_id]
    assert issue["digested_event_count"] == 2
    assert issue["calculated_value"] == message
    stored = [event["event_id"] for event in bugsink.events(issue_id)]
    assert stored == [str(uuid.UUID(event_id)) for event_id in event_ids]
    assert bugsink.event_count() >= 2


def test_wrong_key_is_refused_and_stores_nothing(bugsink: Bugsink) -> None:
    """A wrong public key gets 403 (seen raw and by the SDK's transport) and nothing is stored."""
    before = bugsink.event_count()

    accepted = raw_event(f"e2e raw accepted {uuid.uuid4().hex}")
    assert post_envelope(bugsink.dsn, accepted) == 200  # the positive control
    assert bugsink.event(accepted["event_id"])["message"] == accepted["message"]

    refused = raw_event(f"e2e raw refused {uuid.uuid4().hex}")
    assert post_envelope(bugsink.wrong_key_dsn, refused) == 403

    with scoped_client(bugsink.wrong_key_dsn) as (scope, transport):
        event_id = scope.capture_message(f"e2e wrong key {uuid.uuid4().hex}")
    assert event_id is not None
    assert transport.dropped == ["status_403"]

    # ingest is eager: had either been accepted, it would be stored by now
    assert bugsink.lookup(refused["event_id"]) is None
    assert bugsink.lookup(event_id) is None
    assert bugsink.event_count() == before + 1
