"""WsgiMiddleware: per-request scope, crash report and JSON 500 for any WSGI application.

Built on sentry-sdk's ``SentryWsgiMiddleware`` (isolation scope, request data,
transaction continuing the caller's trace); see ``_web`` for what is added.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import sentry_sdk
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

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

__all__ = ["WsgiMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_STATUS_500 = "500 Internal Server Error"

#: Hands a request's state from the outer half of the middleware to the inner.
_REQUEST: contextvars.ContextVar[_Call] = contextvars.ContextVar("sentry_logging_std.request")


class WsgiMiddleware:
    """Wrap a WSGI application: one isolation scope per request, crashes answered as JSON 500.

    Keyword arguments are the middleware's options (``error_message``,
    ``expose_errors``, ``event_id_header``, ``logger``, ``service``) and, like
    SentryHandler's, the client's (``dsn``, ``environment``,
    ``traces_sample_rate``, ...): the client starts lazily, on the first
    request, unless one is already running. All are checked here.
    """

    def __init__(self, app: WsgiApp, /, **options: Any) -> None:
        self.app = app
        self.options = parse_web_options(options, "WsgiMiddleware")
        self._sentry = SentryWsgiMiddleware(self._handle)
        # The application's client as last seen, and whether it sends PII: read
        # once per client, not per request.
        self._client: Any = None
        self._pii = False

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        call = _Call(self, environ)
        try:
            client = self._client
            if (
                client is None
                or client is not sentry_sdk.Scope.get_global_scope().client
                or not client.is_active()
            ):
                self._client_changed()
            if "HTTP_TRACEPARENT" in environ and "HTTP_SENTRY_TRACE" not in environ:
                sentry_trace = sentry_trace_from_traceparent(environ["HTTP_TRACEPARENT"])
                if sentry_trace is not None:
                    environ = {**environ, "HTTP_SENTRY_TRACE": sentry_trace}
        except Exception:
            diagnostics.debug("sentry-logging-std: WSGI request set-up failed", exc_info=True)
        token = _REQUEST.set(call)
        scrubs = REQUEST_SCRUBS.set(None)
        try:
            result: Iterable[bytes] = self._sentry(environ, start_response)
        finally:
            REQUEST_SCRUBS.reset(scrubs)
            _REQUEST.reset(token)
        direct = call.direct
        if direct is not None:
            # What _handle returned, rather than sentry-sdk's wrapper of it,
            # which re-enters the request's scope per chunk: a list goes out
            # as it is (nothing can fail while the server sends it, nothing
            # to close), and any other body is iterated by _Body in the
            # request's context.
            return direct
        return result

    def _client_changed(self) -> None:
        """No client seen yet, or it was closed: start one if needed, read its options.

        Started here, on the request's thread, unlike a log call's: the
        request's transaction and request data are decided as it begins,
        and need a running client (so the first request of a process pays
        for the start).
        """
        self.options.reporter.init()
        client = sentry_sdk.get_client()
        self._pii = sends_pii()
        # An inactive client is looked at again on the next request.
        self._client = client if client.is_active() else None

    def _handle(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        call = _REQUEST.get(None) or _Call(self, environ)
        call.server_start = start_response
        try:
            call.attach()
            # The transaction keeps sentry-sdk's name until a framework names it
            # by route; the event processor puts the path in its place if none does.
            if self._pii and "wsgi.input" in environ:
                call.body = bytearray()
                environ["wsgi.input"] = _TeeInput(environ["wsgi.input"], call)
        except Exception:
            diagnostics.debug("sentry-logging-std: WSGI request set-up failed", exc_info=True)
        try:
            result = self.app(environ, call.start_response)
        except Exception:
            failed = call.direct = call.fail(current_exc_info())
            return failed
        if call.replacement is not None:
            _close(result)
            replaced = call.direct = [call.replacement]
            return replaced
        if type(result) is list:
            call.direct = result
            return result
        if environ.get("wsgi.file_wrapper") and getattr(result, "fileno", None) is not None:
            # A file the server may send by itself (uWSGI's offloading checks
            # that it gets the very object back).
            call.direct = result
            return result
        body = call.direct = _Body(call, result, contextvars.copy_context())
        return body


class _Call(RequestState):
    """One request's passage through the middleware (its state and event processor too)."""

    server_start: StartResponse
    started = False
    #: The JSON answer that replaces a framework's own 500 page.
    replacement: Optional[bytes] = None
    #: What the middleware answers with instead of sentry-sdk's wrapper of it.
    direct: Optional[Iterable[bytes]] = None

    def __init__(self, middleware: WsgiMiddleware, environ: Environ) -> None:
        # RequestState's fields set here, not by its __init__: one call less per request.
        self.method = environ.get("REQUEST_METHOD") or "GET"
        self.path = environ.get("PATH_INFO") or "/"
        self.options = middleware.options
        self.middleware = middleware

    def _start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is None:  # some servers and test clients take two arguments only
            return self.server_start(status, headers)
        return self.server_start(status, headers, exc_info)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        try:
            code = self.status = int(status[:3])
        except (ValueError, TypeError):
            code = self.status = 0
        self.started = True
        failure = self.failure
        if code >= 500 and failure is not None and self.replacement is None:
            return self._replace(failure, code, status, headers, exc_info)
        if exc_info is None:
            return self.server_start(status, headers)
        return self.server_start(status, headers, exc_info)

    def _replace(
        self,
        failure: BaseException,
        code: int,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: Any,
    ) -> Any:
        """The framework turned the crash its integration reported into its own 5xx."""
        options = self.middleware.options
        event_id = report_failure(
            self, (type(failure), failure, failure.__traceback__), options, "wsgi"
        )
        body, our_headers = error_response(options, failure, event_id)
        if code == 500:  # its default error page: answer ours instead
            self.replacement = body
            self._start(_STATUS_500, our_headers, exc_info)
            return _discard
        if event_id and options.event_id_header:
            headers = [*headers, (options.event_id_header, event_id)]
        return self._start(status, headers, exc_info)

    def fail(self, exc_info: Any) -> list[bytes]:
        """Report the crash and answer the JSON 500 (re-raised by the server if too late)."""
        self.status = 500
        options = self.middleware.options
        event_id = report_failure(self, exc_info, options, "wsgi")
        body, headers = error_response(options, exc_info[1], event_id)
        # After an earlier start_response, WSGI says: pass exc_info; the server
        # re-raises it if the headers are already on the wire.
        self._start(_STATUS_500, headers, exc_info if self.started else None)
        self.started = True
        return [body]


def _discard(data: bytes) -> None:
    """The ``write`` of a response that has been replaced."""


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class _Body:
    """The application's response body, read in the request's context, crashes reported.

    Each chunk is read (and the body closed) inside a copy of the context
    the application ran in, so what the application logs while streaming
    lands in the request's scope, whichever thread the server sends from.
    """

    def __init__(self, call: _Call, result: Iterable[bytes], context: contextvars.Context) -> None:
        self._call = call
        self._result = result
        self._context = context

    def __iter__(self) -> Iterator[bytes]:
        call = self._call
        run = self._context.run
        sent = False
        try:
            iterator = run(iter, self._result)
            while True:
                try:
                    chunk = run(next, iterator)
                except StopIteration:
                    return
                if chunk:
                    sent = True
                yield chunk
        except Exception:
            exc_info = current_exc_info()
            if sent:
                # The response is on the wire: report it, and let the server
                # end the connection so the client sees it is cut short.
                run(report_failure, call, exc_info, call.middleware.options, "wsgi")
                raise
            yield from run(call.fail, exc_info)

    def close(self) -> None:
        call = self._call
        try:
            self._context.run(_close, self._result)
        except Exception:
            # Nothing left to answer: the crash is reported and the response ends here.
            exc_info = current_exc_info()
            self._context.run(report_failure, call, exc_info, call.middleware.options, "wsgi")


class _TeeInput:
    """``wsgi.input`` that keeps what the application reads (up to ``MAX_BODY``) for the event."""

    def __init__(self, stream: Any, state: RequestState) -> None:
        self._stream = stream
        self._state = state

    def read(self, *args: Any) -> bytes:
        data: bytes = self._stream.read(*args)
        self._state.keep_body(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._stream.readline(*args)
        self._state.keep_body(data)
        return data

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args)
        for line in lines:
            self._state.keep_body(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
