"""AsgiMiddleware: per-request scope, crash report and JSON 500 for any ASGI application.

Built on sentry-sdk's ``SentryAsgiMiddleware`` (isolation scope, request data,
transaction continuing the caller's trace); see ``_web`` for what is added.
``http`` requests and ``websocket`` connections get their own scope; ``lifespan``
passes through.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, MutableMapping
from typing import Any, Callable, Optional

from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

from sentry_logging_std._client import REQUEST_SCRUBS
from sentry_logging_std._web import (
    RequestState,
    current_exc_info,
    diagnostics,
    error_response,
    parse_web_options,
    report_failure,
    sends_pii,
    sentry_trace_from_traceparent,
)

__all__ = ["AsgiMiddleware"]

#: The most of a plain 500 answer held back waiting for the crash it may stand for.
MAX_HELD = 64 * 1024

# As loose as Starlette's own, so ``app.add_middleware(AsgiMiddleware)`` type-checks.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
AsgiApp = Callable[[Any, Receive, Send], Awaitable[None]]


class AsgiMiddleware:
    """Wrap an ASGI application: one isolation scope per request, crashes answered as JSON 500.

    Options as for :class:`WsgiMiddleware`. With Starlette or FastAPI install it
    with ``app.add_middleware(AsgiMiddleware, ...)``, inside Starlette's own
    error middleware, so the crash reaches it before a plain-text 500 is sent.
    """

    def __init__(self, app: AsgiApp, /, **options: Any) -> None:
        self.app = app
        self.options = parse_web_options(options, "AsgiMiddleware")

        # mechanism_type other than "asgi": sentry-sdk warns about using its
        # ASGI middleware next to Starlette, which is exactly what this is for.
        # A plain coroutine function: sentry-sdk recognises ASGI 3 apps by that.
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            await self._handle(scope, receive, send)

        self._sentry = SentryAsgiMiddleware(
            handle, transaction_style="url", mechanism_type="sentry_logging_std"
        )

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            self.options.reporter.init()
            scope = _continue_w3c(scope)
        except Exception:
            diagnostics.debug("sentry-logging-std: ASGI request set-up failed", exc_info=True)
        scrubs = REQUEST_SCRUBS.set(None)
        try:
            await self._sentry(scope, receive, send)
        finally:
            REQUEST_SCRUBS.reset(scrubs)

    def _start(self, scope: Scope, method: str) -> RequestState:
        """The request's state, its event processor on the request's isolation scope."""
        state = RequestState(method, str(scope.get("path") or "/"), self.options)
        # sentry-sdk names the transaction by URL until a framework names it by
        # route; the event processor puts the path in place of the URL.
        try:
            state.attach()
        except Exception:
            diagnostics.debug("sentry-logging-std: ASGI request set-up failed", exc_info=True)
        return state

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "websocket":
            await self._handle_websocket(scope, receive, send)
            return
        state = self._start(scope, str(scope.get("method") or "GET"))
        options = self.options
        try:
            if sends_pii():
                state.body = bytearray()
                receive = _tee(receive, state)
        except Exception:
            diagnostics.debug("sentry-logging-std: ASGI request set-up failed", exc_info=True)
        started = False
        replaced = False
        # A plain 500 answer, held back while it is small: a framework's own
        # error page for a crash (Starlette's, outside this middleware) comes
        # before the exception that explains it. Sent as it is if none follows.
        held: Optional[list[Message]] = None
        held_size = 0

        async def release() -> None:
            nonlocal held, started
            messages, held = held or [], None
            started = True
            for message in messages:
                await send(message)

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced, held, held_size
            kind = message.get("type")
            if kind == "http.response.start":
                status = int(message.get("status", 200))
                state.status = status
                failure = state.failure
                if status >= 500 and failure is not None and not replaced:
                    # The framework turned the crash its integration reported into a 5xx.
                    event_id = report_failure(
                        state, (type(failure), failure, failure.__traceback__), options, "asgi"
                    )
                    if status == 500:  # its default error page: answer ours instead
                        replaced = started = True
                        await _send_error(send, options, failure, event_id)
                        return
                    if event_id and options.event_id_header:
                        message = {
                            **message,
                            "headers": [
                                *message.get("headers", ()),
                                _header(options.event_id_header, event_id),
                            ],
                        }
                elif status == 500 and not replaced and not started:
                    held = [message]
                    return
                started = True
            elif replaced:
                return  # the rest of the page ours replaced
            elif held is not None:
                held.append(message)
                held_size += len(message.get("body") or b"")
                if held_size > MAX_HELD:
                    await release()
                return
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception:
            exc_info = current_exc_info()
            if not started:
                state.status = 500
            event_id = report_failure(state, exc_info, options, "asgi")
            if not started:
                held = None  # the framework's page for this crash: ours instead
                await _send_error(send, options, exc_info[1], event_id)
            # Otherwise the response has begun: returning without finishing it
            # makes the server close the connection, and the client sees it cut.
            return
        if held is not None:
            await release()

    async def _handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket: its own scope; a crash reported once and the socket closed with 1011."""
        state = self._start(scope, "GET")  # the method of the opening handshake
        closed = False

        async def tracked_send(message: Message) -> None:
            nonlocal closed
            kind = message.get("type")
            if kind == "websocket.accept":
                state.status = 101
            elif kind in ("websocket.close", "websocket.http.response.start"):
                closed = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            report_failure(state, current_exc_info(), self.options, "asgi")
            if not closed:
                # 1011: the server met an unexpected condition. Before the
                # handshake was accepted, the server turns it into a 403.
                with contextlib.suppress(Exception):
                    await send({"type": "websocket.close", "code": 1011})


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    return name.lower().encode("latin-1"), value.encode("latin-1")


async def _send_error(send: Send, options: Any, exc: Any, event_id: Any) -> None:
    body, headers = error_response(options, exc, event_id)
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [_header(name, value) for name, value in headers],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _tee(receive: Receive, state: RequestState) -> Receive:
    async def tee() -> Message:
        message: Message = await receive()
        if message.get("type") == "http.request":
            state.keep_body(message.get("body", b""))
        return message

    return tee


def _continue_w3c(scope: Scope) -> Scope:
    """*scope* with a ``sentry-trace`` header added from a W3C ``traceparent``, if needed."""
    headers = scope.get("headers") or ()
    traceparent = None
    for name, value in headers:
        lowered = bytes(name).lower()
        if lowered == b"sentry-trace":
            return scope
        if lowered == b"traceparent":
            traceparent = bytes(value).decode("latin-1")
    sentry_trace = sentry_trace_from_traceparent(traceparent)
    if sentry_trace is None:
        return scope
    return {**scope, "headers": [*headers, (b"sentry-trace", sentry_trace.encode("latin-1"))]}
