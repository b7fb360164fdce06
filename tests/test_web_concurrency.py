"""Concurrent requests on real servers never see each other's scope: the events tell."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .envelope_server import EnvelopeServer, envelope_server
from .web_servers import (
    ROOT,
    Server,
    envelope_items,
    free_port,
    gunicorn_argv,
    request,
    serve,
    uvicorn_argv,
)

REQUESTS = 24
CLIENTS = 8

SERVERS = {
    "gunicorn-gthread": lambda port: gunicorn_argv("web_apps:wsgi_app", port, ROOT / "tests"),
    "uvicorn": lambda port: uvicorn_argv("web_apps:asgi_app", port, ROOT / "tests"),
}


@pytest.fixture
def endpoint() -> Iterator[EnvelopeServer]:
    with envelope_server() as server:
        yield server


@pytest.fixture(params=sorted(SERVERS))
def server(
    request: pytest.FixtureRequest, endpoint: EnvelopeServer, tmp_path: Path
) -> Iterator[Server]:
    port = free_port()
    env = {"SENTRY_DSN": endpoint.dsn()}
    with serve(SERVERS[request.param](port), port, env, tmp_path / "server.log") as running:
        yield running


def _name_of(event: dict[str, Any]) -> str:
    """The customer an event is about, from its own text (not from its scope)."""
    if "exception" in event:
        value: str = event["exception"]["values"][-1]["value"]
        return value.removeprefix("crash for ") if value.startswith("crash for ") else value
    params = event["logentry"]["params"]
    return str(params[0])


def test_concurrent_requests_never_see_each_others_scope(
    server: Server, endpoint: EnvelopeServer
) -> None:
    """Overlapping requests: each event carries its own request's user, tag, URL and route."""
    names = [f"c{i:02d}" for i in range(REQUESTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = dict(zip(names, pool.map(lambda n: request(server, f"/users/{n}"), names)))
    assert all(r.status == 500 for r in responses.values())
    assert int(request(server, "/peak").body) >= 2, "the requests did not overlap"
    assert endpoint.wait_for(2 * REQUESTS, timeout=30), len(endpoint.envelopes)
    events = envelope_items(endpoint.envelopes, "event")
    assert len(events) == 2 * REQUESTS
    crash_ids = {n: r.headers["x-sentry-event-id"] for n, r in responses.items()}
    seen: dict[str, list[str]] = {n: [] for n in names}
    for event in events:
        name = _name_of(event)
        seen[name].append("crash" if "exception" in event else "log")
        assert event["user"]["id"] == name
        assert event["tags"]["customer"] == name
        assert event["tags"]["http.route"] == f"/users/{name}"
        assert event["tags"]["service"] == "shop"
        assert event["request"]["url"].endswith(f"/users/{name}")
        if "exception" in event:
            assert event["event_id"] == crash_ids[name]
    assert all(sorted(kinds) == ["crash", "log"] for kinds in seen.values()), seen
