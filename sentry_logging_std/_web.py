"""What the WSGI and ASGI middlewares share: options, per-request state, the crash report.

The middlewares are thin protocol adapters around sentry-sdk's own
``SentryWsgiMiddleware`` / ``SentryAsgiMiddleware``, which give each request
its isolation scope, its request data and its transaction (continuing the
caller's trace). Inside that, this library adds, once for both protocols:

* an event processor on the request's isolation scope (:class:`RequestState`)
  that tags every event and transaction of the request, removes credentials
  from the request context, adds the body only with ``send_default_pii``, and
  makes an unhandled exception one event: a framework integration's capture of
  the request's crash is held back, the middleware sends it itself;
* :func:`report_failure`: the crash as one event built by the core
  (``_capture``) from a log record, then that record logged with its stack
  through stdlib logging, so a JSON line carries ``sentry.event_id``;
* the JSON error body and its headers;
* the translation of a W3C ``traceparent`` into ``sentry-trace``, which no
  sentry-sdk release reads on incoming requests (the one place that knows it).
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, cast

import sentry_sdk
from sentry_sdk.integrations.logging import ignore_logger

from sentry_logging_std._client import INITIALIZER, OWN_EVENT_HINT, REQUEST_SCRUBS
from sentry_logging_std._handler import entry_from_record
from sentry_logging_std._options import DEFAULTS, Options, parse_options
from sentry_logging_std._reporter import Reporter
from sentry_logging_std._scrub import MARKER
from sentry_logging_std._tags import sanitize_tag_value

__all__ = [
    "MIDDLEWARE_DEFAULTS",
    "RequestState",
    "WebOptions",
    "error_response",
    "parse_web_options",
    "report_failure",
    "sentry_trace_from_traceparent",
]

#: The default ``logger``: its records are never sent again by sentry-sdk's logging integration.
OWN_LOGGER = "sentry_logging_std.web"

#: The middleware's own options, with their defaults; every other keyword is
#: a client option, as for SentryHandler.
MIDDLEWARE_DEFAULTS: Mapping[str, Any] = {
    "error_message": "Internal Server Error",
    "expose_errors": False,
    "event_id_header": "X-Sentry-Event-Id",
    "logger": OWN_LOGGER,
    "service": None,
}

_PACKAGE = __name__.partition(".")[0] + "."

#: Hint key of the events the middleware itself sends.
WEB_EVENT_HINT = "sentry_logging_std.web"

#: The names sentry-sdk's middlewares give a transaction no framework has named.
GENERIC_NAMES = frozenset({"generic WSGI request", "generic ASGI request"})

#: Request headers never sent to Sentry, whatever ``send_default_pii`` says.
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie"})

#: Request bodies kept for the event (with ``send_default_pii``) up to this size.
MAX_BODY = 10 * 1024

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")

diagnostics = logging.getLogger("sentry_sdk.errors")


@dataclass(frozen=True)
class WebOptions:
    """A middleware's validated options."""

    client: Options
    #: The core the crash path reports through (it registers the client options).
    reporter: Reporter
    error_message: str
    expose_errors: bool
    event_id_header: Optional[str]
    logger: logging.Logger
    service: Optional[str]


def parse_web_options(kwargs: Mapping[str, Any], owner: str) -> WebOptions:
    """Split *kwargs* into middleware and client options and check both; errors name the option."""
    known = set(DEFAULTS) | set(MIDDLEWARE_DEFAULTS)
    unknown = sorted(set(kwargs) - known)
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(known), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{owner}: unknown option {name!r}{suggestion}")
    raw = {**MIDDLEWARE_DEFAULTS, **{k: v for k, v in kwargs.items() if k in MIDDLEWARE_DEFAULTS}}
    client = parse_options({k: v for k, v in kwargs.items() if k in DEFAULTS}, owner)

    message = raw["error_message"]
    if not isinstance(message, str):
        raise TypeError(f"error_message: expected a string, got {type(message).__name__}")
    expose = raw["expose_errors"]
    if not isinstance(expose, bool):
        raise TypeError(f"expose_errors: expected true or false, got {expose!r}")
    header = raw["event_id_header"]
    if header is not None and not isinstance(header, str):
        raise TypeError(f"event_id_header: expected a header name or None, got {header!r}")
    if header is not None and header != "" and not _TOKEN.match(header):
        raise ValueError(f"event_id_header: {header!r} is not a valid HTTP header name")
    logger = raw["logger"]
    if not isinstance(logger, str) or not logger.strip():
        raise TypeError(f"logger: expected a logger name, got {logger!r}")
    service = raw["service"]
    if service is not None and (not isinstance(service, str) or not service.strip()):
        raise TypeError(f"service: expected a non-empty string or None, got {service!r}")

    reporter = Reporter(client)
    if logger == OWN_LOGGER or logger.startswith(OWN_LOGGER + "."):
        # Every record of this library's own web logger is a crash already sent
        # as an event: sentry-sdk's logging integration (on a client the
        # application started) would only build it a second time to drop it.
        ignore_logger(logger)
    return WebOptions(
        client=client,
        reporter=reporter,
        error_message=message,
        expose_errors=expose,
        event_id_header=header or None,
        logger=logging.getLogger(logger),
        service=sanitize_tag_value(service) if service is not None else None,
    )


class RequestState:
    """What the middleware knows about one request; also the request's event processor.

    Added as it is to the request's isolation scope (one object per request,
    nothing else allocated): it tags every event and transaction of the
    request, removes credentials from the request context, and makes an
    unhandled exception one event (see :meth:`__call__`).
    """

    # Class-level defaults: a request sets only what it knows at its start.
    status: Optional[int] = None
    #: An exception a framework integration reported as unhandled (its event held back).
    failure: Optional[BaseException] = None
    #: The exception the middleware has sent, and the record it sent it as.
    captured: Optional[BaseException] = None
    own_record: Optional[logging.LogRecord] = None
    event_id: Optional[str] = None
    #: The request body as read by the application (only with send_default_pii).
    body: Optional[bytearray] = None

    def __init__(self, method: str, path: str, options: WebOptions) -> None:
        self.method = method
        self.path = path
        self.options = options

    def keep_body(self, chunk: bytes) -> None:
        body = self.body
        if body is not None and len(body) < MAX_BODY:
            body.extend(chunk[: MAX_BODY - len(body)])

    def __call__(self, event: dict[str, Any], hint: dict[str, Any]) -> Optional[dict[str, Any]]:
        """The event processor of the request's isolation scope."""
        try:
            if event.get("type") != "transaction" and not hint.get(WEB_EVENT_HINT):
                exc = _exception_of(hint)
                if exc is not None and (exc is self.captured or exc is self.failure):
                    return None  # sent (or to be sent) once, by the middleware
                record = hint.get("log_record")
                if record is not None and record is self.own_record:
                    return None  # a SentryHandler on the middleware's logger
                if exc is not None and not hint.get(OWN_EVENT_HINT) and _unhandled(event):
                    # A framework integration (Flask, Django, Starlette) reporting
                    # the request's crash: the middleware sends it, once.
                    self.failure = exc
                    return None
            _decorate(event, self, self.options)
        except Exception:  # never lose an event to this processor
            diagnostics.debug("sentry-logging-std: web event processor failed", exc_info=True)
        if INITIALIZER.owns_client:
            return event  # scrubbed in before_send, after every processor
        # The application's client: the global scrubbing processor left the
        # request's events to this one, which runs after sentry-sdk's request
        # processor added the query string and headers.
        try:
            policy = INITIALIZER.scrub_policy or self.options.client.scrub
            return policy.event(event)
        except Exception:
            return None  # a secret must not leave unscrubbed

    def attach(self) -> None:
        """Become the event processor of the current (the request's) isolation scope."""
        scope = sentry_sdk.Scope.get_isolation_scope()
        scope.add_event_processor(cast(Any, self))
        REQUEST_SCRUBS.set(scope)


def sends_pii() -> bool:
    """Whether the running client has ``send_default_pii`` on."""
    return bool(sentry_sdk.get_client().options.get("send_default_pii"))


def _exception_of(hint: Any) -> Optional[BaseException]:
    exc_info = hint.get("exc_info") if isinstance(hint, Mapping) else None
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc = exc_info[1]
        return exc if isinstance(exc, BaseException) else None
    return None


def _unhandled(event: Mapping[str, Any]) -> bool:
    """Whether a sentry-sdk integration marked the event's exception unhandled."""
    values = (event.get("exception") or {}).get("values") or ()
    return any(
        isinstance(value, Mapping)
        and isinstance(value.get("mechanism"), Mapping)
        and value["mechanism"].get("handled") is False
        for value in values
    )


def _decorate(event: dict[str, Any], state: RequestState, options: WebOptions) -> None:
    tags = event.get("tags")
    if not isinstance(tags, dict):
        tags = event["tags"] = {}
    tags["http.method"] = state.method
    if state.status is not None:
        tags["http.status_code"] = str(state.status)
    info = event.get("transaction_info")
    source = info.get("source") if isinstance(info, dict) else None
    if source == "url" or event.get("transaction") in GENERIC_NAMES:
        # Not named by a framework's route: the path (sentry-sdk's ASGI support
        # would put the whole URL, host included, which no alert rule expects;
        # its WSGI support a fixed placeholder).
        event["transaction"] = state.path
        if isinstance(info, dict):
            info["source"] = "url"
    route = event.get("transaction")
    tags["http.route"] = sanitize_tag_value(
        route if isinstance(route, str) and route else state.path
    )
    if options.service is not None:
        tags["service"] = options.service
    request = event.get("request")
    if not isinstance(request, dict):
        return
    # Credentials and what the application did not allow to leave are
    # replaced by the marker, never dropped silently: a reader can tell.
    headers = request.get("headers")
    if isinstance(headers, dict):
        for key in [k for k in headers if isinstance(k, str) and k.lower() in SECRET_HEADERS]:
            headers[key] = MARKER
    if "cookies" in request:
        request["cookies"] = MARKER
    if not sends_pii():
        if "data" in request:
            request["data"] = MARKER
    elif state.body and "data" not in request:
        request["data"] = bytes(state.body).decode("utf-8", "replace")


def _without_own_frames(tb: Any) -> Any:
    """*tb* past its leading frames of this package (all of it if nothing else is left)."""
    first = tb
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith(_PACKAGE):
        tb = tb.tb_next
    return first if tb is None else tb


def _origin(tb: Any) -> tuple[str, int, Optional[str]]:
    """File, line and function where the exception was raised."""
    if tb is None:
        return "(unknown file)", 0, None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return code.co_filename, tb.tb_lineno, code.co_name


def report_failure(
    state: RequestState,
    exc_info: tuple[type[BaseException], BaseException, Any],
    options: WebOptions,
    mechanism: str,
) -> Optional[str]:
    """Send the request's crash as one event, log it with its stack; return the event id.

    Never raises: a failure here must not turn a 500 into a dropped connection.
    """
    if state.captured is not None:
        return state.event_id
    exc = exc_info[1]
    state.captured = exc
    # The stack as the application sees it: from its own code inward, without
    # the middleware frame that caught the exception (whose variables, the
    # whole environ among them, would only cost the event its size).
    exc_info = (exc_info[0], exc, _without_own_frames(exc_info[2]))
    logger = options.logger
    pathname, lineno, func = _origin(exc_info[2])
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        pathname,
        lineno,
        "unhandled exception in %s %s",
        (state.method, state.path),
        exc_info,
        func,
    )
    state.own_record = record
    try:
        # Taken now: the record's data and the exception chain's frames.
        state.event_id = _send_crash(record, options, mechanism, exc is state.failure)
    except Exception:
        diagnostics.warning(
            "sentry-logging-std: could not capture a request's crash", exc_info=True
        )
    try:
        if logger.isEnabledFor(logging.ERROR):
            logger.handle(record)
    except Exception:  # a handler's own failure goes to its handleError; this is the rest
        diagnostics.warning("sentry-logging-std: could not log a crash", exc_info=True)
    return state.event_id


def _send_crash(
    record: logging.LogRecord, options: WebOptions, mechanism: str, held_back: bool
) -> Optional[str]:
    """Send a request's crash; off this thread unless ``capture="sync"``. Returns its event id.

    The id is decided now (the record's, which a JSON line of the record names
    too), so the response can carry it before the event is built. The event
    is built on the capture worker with a snapshot of the request's scopes:
    its request data, tags, user and trace stay those of this request.
    """

    def unhandled(event: dict[str, Any], hint: dict[str, Any]) -> None:
        values = event.get("exception", {}).get("values")
        if values:
            values[-1]["mechanism"] = {"type": mechanism, "handled": False}
        hint[WEB_EVENT_HINT] = True
        if held_back:
            # The integration's capture of this exception, held back, went
            # through sentry-sdk's checks (ignore_errors) and its dedupe
            # filter, which would now drop this event as a repeat.
            del hint["exc_info"]

    build = functools.partial(entry_from_record, record, with_stack=False)
    return options.reporter.crash(record, build, unhandled)


def error_response(
    options: WebOptions, exc: Optional[BaseException], event_id: Optional[str]
) -> tuple[bytes, list[tuple[str, str]]]:
    """The 500 JSON body and its headers."""
    message = options.error_message
    if options.expose_errors and exc is not None:
        try:
            text = str(exc)
        except Exception:
            text = ""
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    body = json.dumps({"code": 500, "err_message": message, "success": False}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if event_id and options.event_id_header:
        headers.append((options.event_id_header, event_id))
    return body, headers


def current_exc_info() -> tuple[type[BaseException], BaseException, Any]:
    """``sys.exc_info()`` inside an ``except`` block, typed as never empty."""
    return cast("tuple[type[BaseException], BaseException, Any]", sys.exc_info())


def sentry_trace_from_traceparent(value: Optional[str]) -> Optional[str]:
    """A ``sentry-trace`` value equivalent to a W3C ``traceparent``, or None if it is invalid.

    Neither sentry-sdk 2.0 nor the newest 2.x reads ``traceparent`` on incoming
    requests; this is the one place that does. The sampled flag is kept, as
    sentry-trace's ``-1``/``-0``, so the caller's sampling decision holds.
    """
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.group(1, 2, 3, 4)
    if version == "ff" or (version == "00" and match.group(5)):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    sampled = "1" if int(flags, 16) & 1 else "0"
    return f"{trace_id}-{span_id}-{sampled}"
