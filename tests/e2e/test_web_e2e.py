"""The web examples under gunicorn and uvicorn on 127.0.0.1, crashing into a real Bugsink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..web_servers import EXAMPLES, Server, free_port, gunicorn_argv, request, serve, uvicorn_argv
from .bugsink import Bugsink

SERVERS = {
    "gunicorn-flask": lambda port: gunicorn_argv("flask_app:application", port, EXAMPLES),
    "gunicorn-django": lambda port: gunicorn_argv(
        "wsgi:application", port, EXAMPLES / "django_app"
    ),
    "uvicorn-django": lambda port: uvicorn_argv("asgi:application", port, EXAMPLES / "django_app"),
    "uvicorn-fastapi": lambda port: uvicorn_argv("fastapi_app:app", port, EXAMPLES),
}


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest, bugsink: Bugsink, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = {"SENTRY_DSN": bugsink.dsn, "TRACES_SAMPLE_RATE": "0"}
    with serve(SERVERS[request.param](port), port, env, tmp_path / "server.log") as running:
        yield running


def test_crash_is_stored_once_under_the_id_the_user_was_given(
    server: Server, bugsink: Bugsink
) -> None:
    """The id in X-Sentry-Event-Id names one stored event: the chain, request, tags, no secrets."""
    response = request(
        server, "/orders/13?coupon=x", headers={"Authorization": "Bearer s3cret", "X-Ticket": "7"}
    )
    assert response.status == 500
    assert response.json()["err_message"] == "Internal Server Error"
    event_id = response.headers["x-sentry-event-id"]
    data = bugsink.event(event_id)
    (value,) = data["exception"]["values"]
    assert value["type"] == "RuntimeError"
    assert value["value"] == "order 13 cannot be priced"
    assert value["mechanism"]["handled"] is False
    assert value["stacktrace"]["frames"][-1]["function"] == "order"
    request_data = data["request"]
    assert request_data["method"] == "GET"
    assert request_data["url"].endswith("/orders/13")
    headers = {k.lower(): v for k, v in request_data["headers"].items()}
    assert headers["x-ticket"] == "7"
    assert headers["authorization"] == "[Filtered]"
    assert "s3cret" not in str(data)
    assert data["tags"]["http.status_code"] == "500"
    assert data["tags"]["http.method"] == "GET"
    assert data["tags"]["service"] == "shop"
    assert "13" not in data["tags"]["http.route"]  # the route, not the path
    (issue,) = [i for i in bugsink.issues() if i["id"] == _issue_of(bugsink, event_id)]
    assert [e["event_id"].replace("-", "") for e in bugsink.events(issue["id"])].count(
        event_id
    ) == 1


def _issue_of(bugsink: Bugsink, event_id: str) -> str:
    found = bugsink.lookup(event_id)
    assert found is not None
    return str(found["issue"])
