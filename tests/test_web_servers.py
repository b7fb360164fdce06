"""The examples under gunicorn and uvicorn on 127.0.0.1, sending to a capturing endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .envelope_server import EnvelopeServer, envelope_server
from .web_servers import (
    EXAMPLES,
    Server,
    envelope_items,
    free_port,
    gunicorn_argv,
    request,
    serve,
    uvicorn_argv,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"

SERVERS = {
    "gunicorn-flask": lambda port: gunicorn_argv("flask_app:application", port, EXAMPLES),
    "gunicorn-django": lambda port: gunicorn_argv(
        "wsgi:application", port, EXAMPLES / "django_app"
    ),
    "uvicorn-django": lambda port: uvicorn_argv("asgi:application", port, EXAMPLES / "django_app"),
    "uvicorn-fastapi": lambda port: uvicorn_argv("fastapi_app:app", port, EXAMPLES),
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EnvelopeServer]:
    with envelope_server() as server:
        yield server


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(
    request: pytest.FixtureRequest,
    endpoint: EnvelopeServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    port = free_port()
    log = Path(tmp_path_factory.mktemp("server")) / "server.log"
    env = {"SENTRY_DSN": endpoint.dsn(), "TRACES_SAMPLE_RATE": "1.0"}
    with serve(SERVERS[request.param](port), port, env, log) as running:
        running.name = request.param
        yield running


def _events_with_id(endpoint: EnvelopeServer, event_id: str) -> list[dict[str, object]]:
    return [e for e in envelope_items(endpoint.envelopes, "event") if e["event_id"] == event_id]


def test_crash_answers_json_500_and_sends_one_event(
    server: Server, endpoint: EnvelopeServer
) -> None:
    """A crashing route over real HTTP: JSON 500, id header, that one event at the endpoint."""
    before = len(endpoint.envelopes)
    response = request(server, "/orders/13", headers={"Authorization": "Bearer s3cret"})
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 500,
        "err_message": "Internal Server Error",
        "success": False,
    }
    event_id = response.headers["x-sentry-event-id"]
    assert endpoint.wait_for(before + 2)  # the event and the transaction
    (event,) = _events_with_id(endpoint, event_id)
    assert event["exception"]["values"][-1]["value"] == "order 13 cannot be priced"  # type: ignore[index]
    tags = event["tags"]
    assert tags["http.status_code"] == "500"  # type: ignore[index]
    assert tags["service"] == "shop"  # type: ignore[index]
    headers = {k.lower(): v for k, v in event["request"]["headers"].items()}  # type: ignore[index]
    assert headers["authorization"] == "[Filtered]"
    assert "s3cret" not in str(event)
    errors = envelope_items(endpoint.envelopes[before:], "event")
    assert len(errors) == 1  # not also the framework integration's
    (line,) = [
        line for line in server.json_lines() if line.get("sentry", {}).get("event_id") == event_id
    ]
    assert "order 13 cannot be priced" in line["error"]["stack_trace"]


def test_not_found_is_no_error_event(server: Server, endpoint: EnvelopeServer) -> None:
    """A framework 404 passes through, with a transaction and no error event."""
    before = len(endpoint.envelopes)
    response = request(server, "/orders/0")
    assert response.status == 404
    assert endpoint.wait_for(before + 1)
    assert envelope_items(endpoint.envelopes[before:], "event") == []
    (transaction,) = envelope_items(endpoint.envelopes[before:], "transaction")
    assert transaction["tags"]["http.status_code"] == "404"


@pytest.mark.parametrize(
    "headers",
    [
        {"sentry-trace": f"{TRACE_ID}-{PARENT_ID}-1"},
        {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    ],
    ids=["sentry-trace", "traceparent"],
)
def test_trace_continued_and_in_log_lines(
    server: Server, endpoint: EnvelopeServer, headers: dict[str, str]
) -> None:
    """An incoming trace header: the transaction, named by route, and the JSON lines join it."""
    before = len(endpoint.envelopes)
    response = request(server, "/orders/5", headers=headers)
    assert response.status == 200
    assert endpoint.wait_for(before + 1)
    (transaction,) = envelope_items(endpoint.envelopes[before:], "transaction")
    trace = transaction["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_ID
    assert "5" not in transaction["transaction"]  # the route, not the path
    lines = [line for line in server.json_lines() if line.get("message") == "order 5 requested"]
    assert lines
    assert lines[-1]["trace"]["id"] == TRACE_ID
    assert lines[-1]["transaction"]["id"] == trace["span_id"]


def test_websocket_over_a_real_uvicorn(server: Server, endpoint: EnvelopeServer) -> None:
    """Echo passes through untouched; a crash is one event and closes the socket with 1011."""
    if server.name != "uvicorn-fastapi":
        pytest.skip("the websocket route is in the FastAPI example")
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    before = len(endpoint.envelopes)
    with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as socket:
        socket.send("hello")
        assert socket.recv(timeout=10) == "hello"
        socket.send("crash")
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        errors = envelope_items(endpoint.envelopes[before:], "event")
        if errors:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # a second event, if one were sent, would be here by now
    errors = envelope_items(endpoint.envelopes[before:], "event")
    assert len(errors) == 1, server.output()
    (event,) = errors
    assert event["exception"]["values"][-1]["value"] == "the socket handler failed"
    assert event["tags"]["service"] == "shop"
