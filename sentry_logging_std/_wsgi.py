"""WsgiMiddleware: per-request scope, crash report and JSON 500 for any WSGI application.

Built on sentry-sdk's ``SentryWsgiMiddleware`` (isolation scope, request data,
transaction continuing the caller's trace); see ``_web`` for what is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import sentry_sdk
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

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

__all__ = ["WsgiMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_STATUS_500 = "500 Internal Server Error"


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

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            INITIALIZER.ensure(self.options.client)
            if "HTTP_TRACEPARENT" in environ and "HTTP_SENTRY_TRACE" not in environ:
                sentry_trace = sentry_trace_from_traceparent(environ["HTTP_TRACEPARENT"])
                if sentry_trace is not None:
                    environ = {**environ, "HTTP_SENTRY_TRACE": sentry_trace}
        except Exception:
            diagnostics.debug("sentry-logging-std: WSGI request set-up failed", exc_info=True)
        result: Iterable[bytes] = self._sentry(environ, start_response)
        return result

    def _handle(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        state = RequestState(str(environ.get("REQUEST_METHOD") or "GET"), path)
        try:
            sentry_sdk.Scope.get_isolation_scope().add_event_processor(
                make_processor(state, self.options)
            )
            # Frameworks name the transaction by route later; a bare app keeps the path.
            sentry_sdk.Scope.get_current_scope().set_transaction_name(path, source="url")
            if sends_pii() and "wsgi.input" in environ:
                state.body = bytearray()
                environ["wsgi.input"] = _TeeInput(environ["wsgi.input"], state)
        except Exception:
            diagnostics.debug("sentry-logging-std: WSGI request set-up failed", exc_info=True)
        return _Call(self, state, start_response).run(environ)


def _status_code(status: str) -> int:
    try:
        return int(status.split(" ", 1)[0])
    except (ValueError, AttributeError):
        return 0


class _Call:
    """One request's passage through the middleware."""

    def __init__(self, middleware: WsgiMiddleware, state: RequestState, start: StartResponse):
        self.middleware = middleware
        self.options = middleware.options
        self.state = state
        self.server_start = start
        self.started = False
        self.replacement: Optional[bytes] = None

    def run(self, environ: Environ) -> Iterable[bytes]:
        try:
            result = self.middleware.app(environ, self.start_response)
        except Exception:
            return self.fail(current_exc_info())
        if self.replacement is not None:
            _close(result)
            return [self.replacement]
        return _Body(self, result)

    def _start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is None:  # some servers and test clients take two arguments only
            return self.server_start(status, headers)
        return self.server_start(status, headers, exc_info)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        code = _status_code(status)
        self.state.status = code
        failure = self.state.failure
        if code >= 500 and failure is not None and self.replacement is None:
            # The framework turned the crash its integration reported into its own 5xx.
            event_id = report_failure(
                self.state, (type(failure), failure, failure.__traceback__), self.options, "wsgi"
            )
            body, our_headers = error_response(self.options, failure, event_id)
            if code == 500:  # its default error page: answer ours instead
                self.replacement = body
                self.started = True
                self._start(_STATUS_500, our_headers, exc_info)
                return _discard
            if event_id and self.options.event_id_header:
                headers = [*headers, (self.options.event_id_header, event_id)]
        self.started = True
        return self._start(status, headers, exc_info)

    def fail(self, exc_info: Any) -> list[bytes]:
        """Report the crash and answer the JSON 500 (re-raised by the server if too late)."""
        self.state.status = 500
        event_id = report_failure(self.state, exc_info, self.options, "wsgi")
        body, headers = error_response(self.options, exc_info[1], event_id)
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
    """The application's response body, with crashes while streaming it reported."""

    def __init__(self, call: _Call, result: Iterable[bytes]) -> None:
        self._call = call
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        call = self._call
        sent = False
        try:
            iterator = iter(self._result)
            while True:
                try:
                    chunk = next(iterator)
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
                report_failure(call.state, exc_info, call.options, "wsgi")
                raise
            yield from call.fail(exc_info)

    def close(self) -> None:
        try:
            _close(self._result)
        except Exception:
            # Nothing left to answer: the crash is reported and the response ends here.
            report_failure(self._call.state, current_exc_info(), self._call.options, "wsgi")


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
