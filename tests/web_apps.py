"""Apps the concurrency tests serve under gunicorn (gthread) and uvicorn.

Every request to ``/users/<name>`` puts its own user and tag on the scope, waits
so that requests overlap, logs an error (a SentryHandler event) and crashes (the
middleware's event): both events must carry that request's user and tag only.
``/peak`` answers how many requests were in flight at once, at most.
The DSN comes from ``SENTRY_DSN``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Callable

import sentry_sdk

from sentry_logging_std import AsgiMiddleware, SentryHandler, WsgiMiddleware

log = logging.getLogger("shop")
log.setLevel(logging.INFO)
log.addHandler(SentryHandler(flood_limit=0))  # every event counts here

_lock = threading.Lock()
_in_flight = 0
_peak = 0


def _enter(name: str) -> None:
    global _in_flight, _peak
    sentry_sdk.set_user({"id": name})
    sentry_sdk.set_tag("customer", name)
    with _lock:
        _in_flight += 1
        _peak = max(_peak, _in_flight)


def _leave(name: str) -> None:
    global _in_flight
    log.error("checkout failed for %s", name)
    with _lock:
        _in_flight -= 1
    raise RuntimeError(f"crash for {name}")


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO") or "/"
    if path.startswith("/users/"):
        name = path.rsplit("/", 1)[-1]
        _enter(name)
        time.sleep(0.05)
        _leave(name)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(_peak).encode()]


async def _asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path.startswith("/users/"):
        name = path.rsplit("/", 1)[-1]
        _enter(name)
        await asyncio.sleep(0.05)
        _leave(name)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(_peak).encode()})


wsgi_app = WsgiMiddleware(_wsgi, service="shop")
asgi_app = AsgiMiddleware(_asgi, service="shop")
