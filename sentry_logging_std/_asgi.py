"""AsgiMiddleware: per-request scope, crash report and JSON 500 for any ASGI application.

Built on sentry-sdk's ``SentryAsgiMiddleware`` (isolation scope, request data,
transaction continuing the caller's trace); see ``_web`` for what is added.
Only ``http`` requests are handled; ``lifespan`` and ``websocket`` pass through.
"""

from __future__ import annotations

from collections.abc import Awaitable, MutableMapping
from typing import Any, Callable

import sentry_sdk
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

from sentry_logging_std._client import INITIALIZER
from sentry_logging_std._web import (
    RequestState,
    current_exc_info,
    diagnostics,
    error_response,
    make_processor,
    parse_web_options,
    report_failure,
    sends_pii,
    sentry_trace_from_traceparent,
)

__all__ = ["AsgiMiddleware"]

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
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        try:
            INITIALIZER.ensure(self.options.client)
            scope = _continue_w3c(scope)
        except Exception:
            diagnostics.debug("sentry-logging-std: ASGI request set-up failed", exc_info=True)
        await self._sentry(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = RequestState(str(scope.get("method") or "GET"), str(scope.get("path") or "/"))
        options = self.options
        try:
            sentry_sdk.Scope.get_isolation_scope().add_event_processor(
                make_processor(state, options)
            )
            # Frameworks name the transaction by route later; a bare app keeps the path.
            sentry_sdk.Scope.get_current_scope().set_transaction_name(state.path, source="url")
            if sends_pii():
                state.body = bytearray()
                receive = _tee(receive, state)
        except Exception:
            diagnostics.debug("sentry-logging-std: ASGI request set-up failed", exc_info=True)
        started = False
        replaced = False

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
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
                started = True
            elif kind == "http.response.body" and replaced:
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
                await _send_error(send, options, exc_info[1], event_id)
            # Otherwise the response has begun: returning without finishing it
            # makes the server close the connection, and the client sees it cut.


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
