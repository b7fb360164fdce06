"""WsgiMiddleware through real WSGI calls, a real sentry-sdk client and a capturing transport."""

from __future__ import annotations

import json
import logging
import threading
import wsgiref.util
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import sentry_sdk

from sentry_logging_std import WsgiMiddleware
from sentry_logging_std._scrub import MARKER, ScrubPolicy

from .conftest import TEST_DSN, CapturingTransport
from .web_servers import headers_of, json_lines, transactions, wsgi_call

StartResponse = Callable[..., Any]


class OrderFailed(Exception):
    pass


def crashing_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    environ["wsgi.input"].read()
    raise OrderFailed("order 7: card number 4242 rejected")


def ok_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    logging.getLogger("shop").info("handling %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def middleware(app: Any, transport: CapturingTransport, **options: Any) -> WsgiMiddleware:
    options.setdefault("dsn", TEST_DSN)
    options.setdefault("transport", transport)
    return WsgiMiddleware(app, **options)


def test_crash_is_one_event_a_json_500_and_the_event_id_header(
    transport: CapturingTransport,
) -> None:
    """An unhandled exception: one unhandled event with request and tags, JSON 500, id header."""
    app = middleware(crashing_app, transport, service="shop")
    response = wsgi_call(
        app,
        "/orders/7",
        method="POST",
        query="page=2",
        headers={"Authorization": "Bearer s3cret", "Cookie": "session=abc", "X-Trace": "t1"},
        body=b"card=4242",
    )
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 500,
        "err_message": "Internal Server Error",
        "success": False,
    }
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]
    (value,) = event["exception"]["values"]
    assert value["type"] == "OrderFailed"
    assert value["mechanism"] == {"type": "wsgi", "handled": False}
    assert value["stacktrace"]["frames"][-1]["function"] == "crashing_app"
    request = event["request"]
    assert request["method"] == "POST"
    assert request["url"].endswith("/orders/7")
    assert request["query_string"] == "page=2"
    headers = headers_of(event)
    assert headers["x-trace"] == "t1"
    # Credentials are marked, never silently dropped; no body without send_default_pii.
    assert headers["authorization"] == "[Filtered]"
    assert headers["cookie"] == "[Filtered]"
    assert request.get("data", "[Filtered]") == "[Filtered]"
    assert "s3cret" not in str(event)
    tags = event["tags"]
    assert tags["http.method"] == "POST"
    assert tags["http.status_code"] == "500"
    assert tags["http.route"] == "/orders/7"
    assert tags["service"] == "shop"


def test_body_and_no_credentials_with_send_default_pii(transport: CapturingTransport) -> None:
    """With send_default_pii the body the app read is attached; credentials are still marked."""
    app = middleware(crashing_app, transport, send_default_pii=True)
    wsgi_call(
        app,
        "/pay",
        method="POST",
        headers={"Authorization": "Bearer s3cret", "Cookie": "session=abc"},
        body=b"card=4242",
    )
    (event,) = transport.events
    assert event["request"]["data"] == "card=4242"
    assert headers_of(event)["authorization"] == "[Filtered]"
    assert headers_of(event)["cookie"] == "[Filtered]"
    assert event["request"].get("cookies", "[Filtered]") == "[Filtered]"
    assert "s3cret" not in str(event)


def test_crash_is_logged_with_its_stack_and_event_id(transport: CapturingTransport) -> None:
    """The crash is one stdlib record: a JSON line with error.stack_trace and sentry.event_id."""
    app = middleware(crashing_app, transport, logger="shop.http")
    with json_lines("shop.http") as lines:
        response = wsgi_call(app, "/orders/7")
    (line,) = lines
    assert line["log"]["level"] == "error"
    assert line["message"] == "unhandled exception in GET /orders/7"
    assert "OrderFailed: order 7" in line["error"]["stack_trace"]
    assert line["sentry"]["event_id"] == response.headers["x-sentry-event-id"]
    (event,) = transport.events
    # The stack starts at the application's code, in the line and in the event.
    assert "sentry_logging_std" not in line["error"]["stack_trace"]
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert [frame["function"] for frame in frames] == ["crashing_app"]


def test_sentry_handler_on_the_logger_does_not_send_the_crash_twice(
    transport: CapturingTransport, make_handler: Any
) -> None:
    """A SentryHandler on the middleware's logger sees the record, and no second event is sent."""
    make_handler("shop.http")
    app = middleware(crashing_app, transport, logger="shop.http")
    response = wsgi_call(app, "/x")
    (event,) = transport.events
    assert event["event_id"] == response.headers["x-sentry-event-id"]


@pytest.mark.parametrize("expose", [False, True])
def test_exception_text_only_when_exposed(transport: CapturingTransport, expose: bool) -> None:
    """err_message is the configured message unless expose_errors asks for the exception text."""
    app = middleware(crashing_app, transport, expose_errors=expose, error_message="try later")
    message = wsgi_call(app).json()["err_message"]
    if expose:
        assert message == "OrderFailed: order 7: card number 4242 rejected"
    else:
        assert message == "try later"


def test_no_dsn_still_answers_json_without_an_id(transport: CapturingTransport) -> None:
    """Without any client the crash is still logged and answered, with no event id header."""
    app = WsgiMiddleware(crashing_app, dsn="", event_id_header="X-Request-Error")
    with json_lines("sentry_logging_std.web") as lines:
        response = wsgi_call(app)
    assert response.status == 500
    assert "x-request-error" not in response.headers
    assert "OrderFailed" in lines[0]["error"]["stack_trace"]
    assert "sentry" not in lines[0]


def test_crash_after_the_response_started_ends_it(transport: CapturingTransport) -> None:
    """A crash while streaming after bytes went out: one event, and the server sees the error."""

    def streaming(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first chunk"
        raise OrderFailed("mid-stream")

    app = middleware(streaming, transport)
    with pytest.raises(OrderFailed):
        wsgi_call(app, "/stream")
    (event,) = transport.events
    assert event["tags"]["http.status_code"] == "200"
    assert event["exception"]["values"][-1]["value"] == "mid-stream"


def test_crash_before_the_first_chunk_is_still_a_json_500(transport: CapturingTransport) -> None:
    """A generator app that fails before yielding anything still gets the JSON answer."""

    def lazy(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ:
            raise OrderFailed("before any byte")
        yield b"never"

    app = middleware(lazy, transport)
    response = wsgi_call(app)
    assert response.status == 500
    assert response.json()["success"] is False
    (event,) = transport.events
    assert event["tags"]["http.status_code"] == "500"


def test_what_is_logged_while_streaming_lands_in_the_request_scope(
    transport: CapturingTransport, make_handler: Any
) -> None:
    """A body read on another thread, as some servers do: its log calls keep the request's scope."""
    make_handler("shop", capture="sync")

    def streaming(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        sentry_sdk.set_tag("customer", "alice")
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        logging.getLogger("shop").error("stock ran out while streaming")
        yield b"second"

    app = middleware(streaming, transport)
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/orders"
    closed: list[bool] = []
    result = app(environ, lambda status, headers, exc_info=None: None)
    chunks: list[bytes] = []

    def server_thread() -> None:
        chunks.extend(result)
        result.close()  # type: ignore[attr-defined]
        closed.append(True)
        logging.getLogger("shop").error("the server's own error")

    thread = threading.Thread(target=server_thread)
    thread.start()
    thread.join(10)
    assert chunks == [b"first", b"second"]
    assert closed == [True]
    event, after = transport.events
    assert event["logentry"]["message"] == "stock ran out while streaming"
    assert event["tags"]["customer"] == "alice"
    assert event["tags"]["http.method"] == "GET"
    assert event["request"]["url"].endswith("/orders")
    # The server's own context never had the request's scope.
    assert after["logentry"]["message"] == "the server's own error"
    assert "customer" not in after.get("tags", {})
    assert "request" not in after


def test_a_file_the_server_can_send_itself_is_returned_as_it_is(
    transport: CapturingTransport, tmp_path: Any
) -> None:
    """With wsgi.file_wrapper, a file-like body is handed back untouched (uWSGI offloading)."""
    path = tmp_path / "report.txt"
    path.write_bytes(b"report")

    class FileWrapper:
        def __init__(self, handle: Any, size: int = 8192) -> None:
            self.handle = handle

        def fileno(self) -> int:
            return int(self.handle.fileno())

        def __iter__(self) -> Iterator[bytes]:
            yield self.handle.read()

        def close(self) -> None:
            self.handle.close()

    def download(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    app = middleware(download, transport)
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.file_wrapper"] = FileWrapper
    result = app(environ, lambda status, headers, exc_info=None: None)
    assert type(result) is FileWrapper
    assert list(result) == [b"report"]
    result.close()


@pytest.mark.parametrize("capture", ["sync", "background"])
def test_concurrent_requests_never_share_a_scope(
    transport: CapturingTransport, make_handler: Any, capture: str
) -> None:
    """Two overlapping requests set their own tag and user; each error event has only its own."""
    make_handler("shop", capture=capture)
    barrier = threading.Barrier(2, timeout=10)

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        name = environ["PATH_INFO"].strip("/")
        sentry_sdk.set_tag("customer", name)
        sentry_sdk.set_user({"id": name})
        barrier.wait()  # both requests have set their scope before either logs
        logging.getLogger("shop").error("checkout failed for %s", name)
        barrier.wait()
        start_response("200 OK", [])
        return [b""]

    wrapped = middleware(app, transport)
    results: dict[str, int] = {}

    def client(name: str) -> None:
        results[name] = wsgi_call(wrapped, f"/{name}").status

    threads = [threading.Thread(target=client, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == {"alice": 200, "bob": 200}
    events = transport.events
    assert len(events) == 2
    for event in events:
        name = event["logentry"]["params"][0]
        assert event["tags"]["customer"] == name
        assert event["user"]["id"] == name
        assert event["request"]["url"].endswith(f"/{name}")
        assert event["tags"]["http.route"] == f"/{name}"


def test_transaction_named_by_path_with_trace_ids_in_log_lines(
    transport: CapturingTransport,
) -> None:
    """With traces_sample_rate, one transaction per request; JSON lines carry its ids."""
    app = middleware(ok_app, transport, traces_sample_rate=1.0, service="shop")
    with json_lines("shop") as lines:
        response = wsgi_call(app, "/items/3")
    assert response.status == 200
    (transaction,) = transactions(transport)
    assert transaction["transaction"] == "/items/3"
    assert transaction["tags"]["http.status_code"] == "200"
    assert transaction["tags"]["service"] == "shop"
    trace = transaction["contexts"]["trace"]
    (line,) = lines
    assert line["trace"]["id"] == trace["trace_id"]
    assert line["transaction"]["id"] == trace["span_id"]
    assert line["span"]["id"] == trace["span_id"]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    "headers",
    [
        {"sentry-trace": f"{TRACE_ID}-{PARENT_ID}-1", "baggage": "sentry-trace_id=" + TRACE_ID},
        {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    ],
    ids=["sentry-trace", "w3c-traceparent"],
)
def test_incoming_trace_is_continued(
    transport: CapturingTransport, headers: dict[str, str]
) -> None:
    """sentry-trace/baggage and W3C traceparent both make the request part of the caller's trace."""
    app = middleware(ok_app, transport, traces_sample_rate=1.0)
    with json_lines("shop") as lines:
        wsgi_call(app, "/items/3", headers=headers)
    (transaction,) = transactions(transport)
    assert transaction["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert transaction["contexts"]["trace"]["parent_span_id"] == PARENT_ID
    assert lines[0]["trace"]["id"] == TRACE_ID


def test_unsampled_w3c_caller_is_not_sampled(transport: CapturingTransport) -> None:
    """A traceparent whose sampled flag is off keeps the caller's decision: no transaction."""
    app = middleware(ok_app, transport, traces_sample_rate=1.0)
    with json_lines("shop") as lines:
        wsgi_call(app, "/items/3", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    assert transactions(transport) == []
    assert lines[0]["trace"]["id"] == TRACE_ID


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"expose_error": True}, TypeError, "did you mean 'expose_errors'"),
        ({"expose_errors": "yes"}, TypeError, "expose_errors"),
        ({"event_id_header": "X Event"}, ValueError, "event_id_header"),
        ({"error_message": 500}, TypeError, "error_message"),
        ({"logger": ""}, TypeError, "logger"),
        ({"service": 3}, TypeError, "service"),
        ({"traces_sample_rate": 2}, ValueError, "traces_sample_rate"),
    ],
)
def test_options_are_checked_when_built(
    options: dict[str, Any], error: type[Exception], text: str
) -> None:
    """A bad option fails building the middleware, naming the option."""
    with pytest.raises(error, match=text):
        WsgiMiddleware(ok_app, **options)


def test_uses_the_applications_own_client(transport: CapturingTransport) -> None:
    """Without a DSN of its own, the middleware sends through the client the app started."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)
    response = wsgi_call(WsgiMiddleware(crashing_app), "/x")
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]


def test_application_client_request_events_are_scrubbed_once_and_in_full(
    transport: CapturingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the app's client, a request's transaction and errors are scrubbed by one full pass.

    The global pass leaves them to the request's processor, which runs after
    sentry-sdk's request data is added; events outside a request keep the global pass.
    """
    passes: list[str] = []
    original = ScrubPolicy.event

    def counted(self: ScrubPolicy, event: dict[str, Any], *args: Any) -> dict[str, Any]:
        passes.append(str(event.get("type", "error")))
        return original(self, event, *args)

    monkeypatch.setattr(ScrubPolicy, "event", counted)
    sentry_sdk.init(dsn=TEST_DSN, transport=transport, traces_sample_rate=1.0)
    wrapped = WsgiMiddleware(ok_app)
    assert wsgi_call(wrapped, "/orders", query="token=tok-Q81x&page=2").status == 200
    wsgi_call(wrapped, "/boom-free", headers={"Authorization": "Bearer tok-Q81x"})
    (first, second) = transactions(transport)
    assert passes == ["transaction", "transaction"]
    assert "tok-Q81x" not in json.dumps([first, second])
    assert first["request"]["query_string"] == f"token={MARKER}&page=2"
    passes.clear()
    sentry_sdk.capture_message("outside any request, password=hunter2")
    (event,) = transport.events
    assert passes == ["error"]
    assert "hunter2" not in json.dumps(event)


def test_keyboard_interrupt_is_not_swallowed(transport: CapturingTransport) -> None:
    """Only Exceptions are answered: BaseExceptions like KeyboardInterrupt propagate."""

    def interrupted(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wsgi_call(middleware(interrupted, transport))


def test_logger_at_critical_only_still_reports(transport: CapturingTransport) -> None:
    """A logger that drops ERROR records does not stop the event."""
    logging.getLogger("quiet.http").setLevel(logging.CRITICAL)
    try:
        app = middleware(crashing_app, transport, logger="quiet.http")
        assert wsgi_call(app).status == 500
        assert len(transport.events) == 1
    finally:
        logging.getLogger("quiet.http").setLevel(logging.NOTSET)


@pytest.mark.parametrize("capture", ["background", "sync"])
def test_crash_event_is_built_off_the_request_thread(
    transport: CapturingTransport, capture: str
) -> None:
    """By default the crash's event is built on the capture worker, still with the request."""
    built_on: list[str] = []

    def before_send(event: Any, hint: Any) -> Any:
        built_on.append(threading.current_thread().name)
        return event

    app = middleware(crashing_app, transport, before_send=before_send, capture=capture)
    response = wsgi_call(app, "/orders/7", headers={"X-Trace": "t1"})
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]
    assert headers_of(event)["x-trace"] == "t1"
    assert event["tags"]["http.route"] == "/orders/7"
    expected = (
        threading.current_thread().name if capture == "sync" else "sentry-logging-std.capture"
    )
    assert built_on == [expected]
