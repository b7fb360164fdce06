"""Helpers for the web middleware tests: in-process WSGI/ASGI calls, real servers, JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import wsgiref.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

from sentry_sdk.envelope import Envelope

from sentry_logging_std import JsonFormatter

from .conftest import CapturingTransport


class Response:
    """What a client saw: status, headers (lower-cased names), body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def wsgi_call(
    app: Callable[..., Any],
    path: str = "/",
    method: str = "GET",
    headers: Optional[dict[str, str]] = None,
    body: bytes = b"",
    query: str = "",
) -> Response:
    """One real WSGI call, as a server makes it (start_response re-raises once headers are out)."""
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        CONTENT_LENGTH=str(len(body)),
    )
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    seen: dict[str, Any] = {"sent": False}

    def start_response(status: str, response_headers: list[Any], exc_info: Any = None) -> Any:
        if exc_info is not None and seen["sent"]:
            raise exc_info[1].with_traceback(exc_info[2])
        seen["status"] = status
        seen["headers"] = response_headers
        return lambda data: None

    result = app(environ, start_response)
    chunks = []
    try:
        for chunk in result:
            if chunk:
                seen["sent"] = True
            chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Response(
        int(seen["status"].split()[0]),
        {k.lower(): v for k, v in seen["headers"]},
        b"".join(chunks),
    )


async def asgi_request(
    app: Callable[..., Any],
    path: str = "/",
    method: str = "GET",
    headers: Optional[dict[str, str]] = None,
    body: bytes = b"",
) -> tuple[Optional[Response], list[dict[str, Any]]]:
    """One real ASGI http call; returns the response (None if none started) and every message."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    if not starts:
        return None, sent
    (start,) = starts
    return (
        Response(
            start["status"],
            {k.decode().lower(): v.decode() for k, v in start.get("headers", [])},
            b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
        ),
        sent,
    )


async def asgi_websocket(
    app: Callable[..., Any],
    path: str,
    texts: list[str],
    headers: Optional[dict[str, str]] = None,
) -> list[dict[str, Any]]:
    """One real ASGI websocket session: connect, send *texts*; returns every message sent back."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
    }
    incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": text} for text in texts]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def asgi_call(app: Callable[..., Any], path: str = "/", **kwargs: Any) -> Response:
    response, _ = asyncio.run(asgi_request(app, path, **kwargs))
    assert response is not None
    return response


@contextmanager
def json_lines(logger: str = "") -> Iterator[list[dict[str, Any]]]:
    """JSON lines (parsed) written by a JsonFormatter handler on *logger* while inside."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service_name="shop"))
    target = logging.getLogger(logger)
    previous = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def transactions(transport: CapturingTransport) -> list[dict[str, Any]]:
    """Transaction items the transport received."""
    transport.events  # noqa: B018 - waits for queued capture jobs
    found = []
    for envelope in transport.envelopes:
        transaction = envelope.get_transaction_event()
        if transaction is not None:
            found.append(dict(transaction))
    return found


def headers_of(event: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in event["request"]["headers"].items()}


# --- real servers on 127.0.0.1 ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _gunicorn_has_no_control_socket() -> bool:
    """``--no-control-socket`` exists from gunicorn 24 on (the oldest env has 23)."""
    helptext = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return "--no-control-socket" in helptext


def gunicorn_argv(app: str, port: int, chdir: Path) -> list[str]:
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    argv += ["--threads", "4", "--chdir", str(chdir), "--graceful-timeout", "5"]
    if _gunicorn_has_no_control_socket():
        argv.append("--no-control-socket")
    return [*argv, app]


def uvicorn_argv(app: str, port: int, app_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
        "--app-dir", str(app_dir), "--no-access-log", app,
    ]  # fmt: skip


class Server:
    """A server subprocess; ``output()`` is what it wrote (stdout and stderr)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.port = port
        self.name = ""
        self._log = log

    def output(self) -> str:
        return self._log.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found


@contextmanager
def serve(argv: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[Server]:
    """Start *argv*, wait (at most 60 s) until it accepts connections, stop it afterwards."""
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {server.output()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not listening after 60 s: {server.output()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def request(
    server: Server, path: str, headers: Optional[dict[str, str]] = None, method: str = "GET"
) -> Response:
    """One real HTTP request (10 s deadline); a cut-off response raises."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        answer = connection.getresponse()
        body = answer.read()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, body)
    finally:
        connection.close()


def envelope_items(bodies: list[bytes], kind: str) -> list[dict[str, Any]]:
    """Items of type *kind* ("event", "transaction") in raw envelope bodies."""
    return [
        dict(item.payload.json)
        for body in bodies
        for item in Envelope.deserialize(body).items
        if item.type == kind and item.payload.json is not None
    ]
