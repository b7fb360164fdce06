"""The secret corpus into a real Bugsink: nothing planted is stored, the marker is where it was."""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from sentry_logging_std import SentryHandler, SentrySink, WsgiMiddleware

from .. import secret_corpus as corpus
from ..web_servers import free_port, serve, uvicorn_argv, wsgi_call
from .bugsink import Bugsink

TESTS = Path(__file__).resolve().parent.parent

MARKER = corpus.MARKER


def dsn_key(bugsink: Bugsink) -> str:
    key = urllib.parse.urlsplit(bugsink.dsn).username
    assert key
    return key


def raw_stored(bugsink: Bugsink) -> str:
    """The bytes of every file Bugsink keeps (its databases too), as text."""
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace")
        for path in sorted(bugsink.state_dir.rglob("*"))
        if path.is_file()
    )


def raw_leaks(bugsink: Bugsink) -> list[str]:
    """The planted secrets found in what Bugsink keeps on disk.

    The DSN's key is left out: the server stores it as the project's, by design.
    """
    return [name for name in corpus.leaks(raw_stored(bugsink), pii=True) if name != "dsn_key"]


def stored_ids(bugsink: Bugsink) -> set[str]:
    """The ids of every event Bugsink has stored."""
    return {str(event["id"]) for issue in bugsink.issues() for event in bugsink.events(issue["id"])}


def stored_since(bugsink: Bugsink, before: set[str], timeout: float) -> list[dict[str, Any]]:
    """The events stored that are not in *before*, polling until there is one (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        after = [
            event
            for issue in bugsink.issues()
            for event in bugsink.events(issue["id"])
            if str(event["id"]) not in before
        ]
        if after or time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def check_plain(bugsink: Bugsink, event_id: str) -> None:
    """The plain error as stored: its argument hidden in the message and the line that logged it."""
    data, everything = stored(bugsink, event_id)
    assert corpus.leaks(everything) == []
    assert data["logentry"]["formatted"] == f"charge refused, api_key={MARKER}"
    assert data["logentry"]["params"] == [MARKER]


def stored(bugsink: Bugsink, event_id: str) -> tuple[dict[str, Any], str]:
    """The event's payload as stored, and everything Bugsink says about it and its issues."""
    data = bugsink.event(event_id)
    record = bugsink.lookup(event_id)
    everything = json.dumps([record, bugsink.issues()], default=str)
    return data, everything


def check_event(data: dict[str, Any]) -> None:
    """The marker where each secret was, as Bugsink stored the event."""
    assert MARKER in data["logentry"]["formatted"]
    extra = data["contexts"]["extra"]
    assert extra["password"] == MARKER
    assert extra["order"]["payment"]["gateway"]["attempts"] == [{"n": 1, "secret": MARKER}]
    assert extra["client"]["settings"] == [{"api_key": MARKER}]
    assert extra["harmless"] == "order 7 for alice"
    for name, value in {**corpus.scope_markers(data), **corpus.exception_markers(data)}.items():
        assert corpus.has_marker(value), (name, value)
    for name, lines in corpus.source_markers(data).items():
        assert lines, name
        assert corpus.has_marker(lines), (name, lines)
    assert data["user"]["email"] == MARKER
    (crumb,) = [c for c in corpus.crumbs(data) if c.get("type") == "log"]
    assert crumb["data"]["access_token"] == MARKER


@pytest.fixture
def corpus_handler(bugsink: Bugsink) -> Iterator[tuple[logging.Logger, SentryHandler]]:
    handler = SentryHandler(dsn=bugsink.dsn, environment="e2e-secrets")
    handler.init()  # the corpus calls sentry-sdk itself (a breadcrumb of its own)
    log = logging.getLogger(corpus.LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    yield log, handler
    log.removeHandler(handler)
    handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


def test_handler_events_stored_without_secrets(
    bugsink: Bugsink, corpus_handler: tuple[logging.Logger, SentryHandler]
) -> None:
    """SentryHandler -> Bugsink: the stored event, its issue and the DSN-key event are clean."""
    log, handler = corpus_handler
    key = dsn_key(bugsink)
    corpus.log_everything(log, plain_error=False)
    handler.flush()
    error_id = handler.last_event_id
    corpus.refused_charge(log)
    handler.flush()
    plain_id = handler.last_event_id
    corpus.dsn_key_record(log, key)
    handler.flush()
    key_id = handler.last_event_id
    assert error_id is not None
    assert key_id is not None
    assert key_id != error_id
    data, everything = stored(bugsink, error_id)
    key_data, key_everything = stored(bugsink, key_id)
    assert corpus.leaks(everything + key_everything, dsn_key=key) == []
    check_event(data)
    assert key_data["logentry"]["formatted"] == f"misconfigured client, key {MARKER} in use"
    assert plain_id is not None
    check_plain(bugsink, plain_id)
    assert raw_leaks(bugsink) == []
    # The search reads the stored events: their harmless text is there.
    assert "order 7 for alice" in raw_stored(bugsink)


def test_loguru_events_stored_without_secrets(bugsink: Bugsink) -> None:
    """SentrySink on real loguru -> Bugsink: the same corpus, stored clean."""
    key = dsn_key(bugsink)
    logger.remove()
    sink = SentrySink(dsn=bugsink.dsn, environment="e2e-secrets")
    sink.init()  # the corpus calls sentry-sdk itself (a breadcrumb of its own)
    logger.add(sink, level="INFO")
    try:
        corpus.loguru_everything(plain_error=False)
        sink.flush()
        error_id = sink.last_event_id
        corpus.loguru_refused_charge()
        sink.flush()
        plain_id = sink.last_event_id
        logger.error("misconfigured client, key {} in use", key)
        sink.flush()
        key_id = sink.last_event_id
    finally:
        logger.remove()
    assert error_id is not None
    assert key_id is not None
    data, everything = stored(bugsink, error_id)
    key_data, key_everything = stored(bugsink, key_id)
    assert corpus.leaks(everything + key_everything, dsn_key=key) == []
    check_event(data)
    assert key_data["logentry"]["formatted"] == f"misconfigured client, key {MARKER} in use"
    assert plain_id is not None
    check_plain(bugsink, plain_id)
    assert raw_leaks(bugsink) == []


def test_capture_error_and_wsgi_events_stored_without_secrets(
    bugsink: Bugsink, corpus_handler: tuple[logging.Logger, SentryHandler]
) -> None:
    """capture_error and a crashing request under WsgiMiddleware -> Bugsink: stored clean."""
    _, handler = corpus_handler
    event_id = corpus.capture_everything()
    assert event_id is not None
    handler.flush()
    data, everything = stored(bugsink, event_id)
    assert corpus.leaks(everything) == []
    for name, value in {**corpus.scope_markers(data), **corpus.exception_markers(data)}.items():
        # The breadcrumb was added before capture_error started the client: not kept.
        assert name == "crumb_data_secret" or corpus.has_marker(value), (name, value)
    assert data["contexts"]["context"]["payment"]["password"] == MARKER
    before = stored_ids(bugsink)
    app = WsgiMiddleware(corpus.wsgi_app)
    headers = {**corpus.request_headers(), "Content-Type": "application/json"}
    response = wsgi_call(
        app, "/login", method="POST", query=corpus.QUERY, headers=headers, body=corpus.JSON_BODY
    )
    assert response.status == 500
    handler.flush()
    after = stored_since(bugsink, before, timeout=10)
    assert after, "the request's crash was not stored"
    for event in after:
        data, everything = stored(bugsink, str(event["event_id"]))
        assert corpus.leaks(everything) == []
        assert data["request"]["query_string"] == (
            f"token={MARKER}&password={MARKER}&csrf={MARKER}&page=2"
        )
    assert raw_leaks(bugsink) == []


def test_asgi_events_under_uvicorn_stored_without_secrets(bugsink: Bugsink, tmp_path: Path) -> None:
    """Real HTTP requests to uvicorn serving the corpus app, reporting to Bugsink: stored clean."""
    before = stored_ids(bugsink)
    port = free_port()
    env = {"SENTRY_DSN": bugsink.dsn, "CORPUS_PII": "0"}
    argv = uvicorn_argv("secret_corpus:asgi_app", port, TESTS)
    with serve(argv, port, env, tmp_path / "uvicorn.log"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            headers = {**corpus.request_headers(), "Content-Type": "application/json"}
            connection.request("POST", f"/login?{corpus.QUERY}", corpus.JSON_BODY, headers)
            assert connection.getresponse().status == 500
        finally:
            connection.close()
        after = stored_since(bugsink, before, timeout=15)
    assert after, "the request's crash was not stored"
    for event in after:
        data, everything = stored(bugsink, str(event["event_id"]))
        assert corpus.leaks(everything) == []
        for name, lines in corpus.source_markers(data).items():
            assert lines, name
        assert corpus.has_marker(lines), (name, lines)
    assert raw_leaks(bugsink) == []
