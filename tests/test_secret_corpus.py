"""The secret corpus through every front door: nothing planted leaves, the marker is where it was.

Each test plants every secret of ``secret_corpus`` that its front door can
carry, then searches everything that left the process for every one of them
(cards also without separators, the DSN's key, the e-mail without
``send_default_pii``) and checks, place by place, that the marker stands
where the secret was.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import sentry_sdk
from loguru import logger

from sentry_logging_std import (
    JsonFormatter,
    LoguruJsonFormat,
    SentryHandler,
    SentrySink,
    WsgiMiddleware,
)
from sentry_logging_std._scrub import ScrubPolicy, scrubbing_before_send_transaction

from . import secret_corpus as corpus
from .conftest import CapturingTransport
from .envelope_server import EnvelopeServer, envelope_server
from .web_servers import (
    envelope_items,
    free_port,
    serve,
    transactions,
    uvicorn_argv,
    wsgi_call,
)

MARKER = corpus.MARKER
QUERY_SCRUBBED = f"token={MARKER}&password={MARKER}&csrf={MARKER}&page=2"
HERE = Path(__file__).resolve().parent


def sent_items(transport: CapturingTransport) -> str:
    """Every item of every envelope, as sent (envelope headers left out: they carry the DSN
    key and the trace's public key by protocol, to authenticate, never as event data)."""
    transport.events  # noqa: B018 - waits for queued capture jobs
    return "\n".join(
        item.serialize().decode("utf-8", "replace")
        for envelope in transport.envelopes
        for item in envelope.items
    )


def error_event(transport: CapturingTransport) -> dict[str, Any]:
    (event,) = [e for e in transport.events if e.get("exception")]
    return event


def check_scope_and_frames(event: dict[str, Any], pii: bool) -> None:
    """The marker where the scope, the raising frame and the exception held a secret."""
    for name, value in {**corpus.scope_markers(event), **corpus.exception_markers(event)}.items():
        assert corpus.has_marker(value), (name, value)
    check_source_lines(event)
    user = event["user"]
    assert user["id"] == "u-7"
    assert user["email"] == (corpus.EMAIL if pii else MARKER)
    (record_crumb,) = [c for c in corpus.crumbs(event) if c.get("type") == "log"]
    assert record_crumb["data"] == {"access_token": MARKER, "step": "cart"}


def check_source_lines(event: dict[str, Any]) -> None:
    """The marker where the raising frames' source lines held a literal; the code readable."""
    for name, lines in corpus.source_markers(event).items():
        assert lines, name
        assert corpus.has_marker(lines), (name, lines)
    assert f'connect(user, secret_token="{MARKER}")' in corpus.frame_source(event, "failing_login")
    connect = corpus.frame_source(event, "connect")
    assert f'headers["Authorization"] = "Basic {MARKER}"' in connect
    assert f'verify(user, "{MARKER}", headers)' in connect
    # Code with no literal under a secret name stays as written.
    assert 'password = SECRETS["local_password"]' in corpus.frame_source(event, "failing_login")


def check_log_event(event: dict[str, Any], extra: dict[str, Any]) -> None:
    """The marker in the message, its arguments and every planted extra; harmless data intact."""
    assert MARKER in event["logentry"]["message"]
    # The template keeps its placeholders; each argument the message hides is hidden.
    assert event["logentry"]["message"].endswith("password=%s") or event["logentry"][
        "message"
    ].endswith("password={}")
    assert event["logentry"]["params"] == [MARKER, MARKER]
    assert event["logentry"]["formatted"].count(MARKER) == 3
    assert extra["password"] == MARKER
    assert extra["db_password"] == MARKER
    gateway = extra["order"]["payment"]["gateway"]
    assert gateway["credentials"] == MARKER
    assert gateway["attempts"] == [{"n": 1, "secret": MARKER}]
    assert extra["order"]["payment"]["note"] == f"paid with {MARKER}"
    assert extra["client"]["settings"] == [{"api_key": MARKER}]
    assert extra["upstream"] == f"https://svc:{MARKER}@pay.example.org/v1"
    assert extra["harmless"] == "order 7 for alice"
    assert extra["order"]["id"] == 7


@pytest.fixture
def corpus_log(transport: CapturingTransport) -> Iterator[Callable[..., logging.Logger]]:
    """The corpus logger with a SentryHandler (options as given) sending to *transport*."""
    made: list[tuple[logging.Logger, SentryHandler]] = []

    def make(**options: Any) -> logging.Logger:
        handler = SentryHandler(dsn=corpus.DSN, transport=transport, **options)
        # The corpus's application calls sentry-sdk itself (a breadcrumb of
        # its own): like any such application, it starts the client at set-up.
        handler.init()
        log = logging.getLogger(corpus.LOGGER)
        log.setLevel(logging.INFO)
        log.propagate = False
        log.addHandler(handler)
        made.append((log, handler))
        return log

    yield make
    for log, handler in made:
        log.removeHandler(handler)
        handler.close()
        log.propagate = True
        log.setLevel(logging.NOTSET)


# --- SentryHandler and SentrySink -------------------------------------------------------------


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
def test_handler_sends_no_planted_secret(
    corpus_log: Callable[..., logging.Logger], transport: CapturingTransport, pii: bool
) -> None:
    """SentryHandler: extras, scope, breadcrumbs, message, exception, frame variables, DSN key."""
    log = corpus_log(send_default_pii=pii)
    corpus.log_everything(log)
    corpus.dsn_key_record(log)
    assert corpus.leaks(sent_items(transport), pii=pii) == []
    event = error_event(transport)
    check_log_event(event, event["contexts"]["extra"])
    check_scope_and_frames(event, pii)
    (key_event,) = [e for e in transport.events if "misconfigured" in e["logentry"]["message"]]
    assert key_event["logentry"]["formatted"] == f"misconfigured client, key {MARKER} in use"
    check_plain_error(transport)


def check_plain_error(transport: CapturingTransport) -> None:
    """A plain error's caller stack: its message argument hidden in the line that logged it."""
    (event,) = [e for e in transport.events if "charge refused" in e["logentry"]["message"]]
    assert event["logentry"]["params"] == [MARKER]
    assert event["logentry"]["formatted"] == f"charge refused, api_key={MARKER}"
    lines = corpus.frame_source(event, "refused_charge")
    assert f'"charge refused, api_key=%s", "{MARKER}"' in lines, lines


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
def test_loguru_sink_sends_no_planted_secret(transport: CapturingTransport, pii: bool) -> None:
    """SentrySink on real loguru: the same corpus, bind() carrying the extras."""
    logger.remove()
    sink = SentrySink(dsn=corpus.DSN, transport=transport, send_default_pii=pii)
    sink.init()  # the corpus calls sentry-sdk itself: see corpus_log
    logger.add(sink, level="INFO")
    try:
        corpus.loguru_everything()
        logger.error("misconfigured client, key {} in use", corpus.DSN_KEY)
        sink.flush()
    finally:
        logger.remove()
    assert corpus.leaks(sent_items(transport), pii=pii) == []
    event = error_event(transport)
    check_log_event(event, event["contexts"]["extra"])
    check_scope_and_frames(event, pii)
    (plain,) = [e for e in transport.events if "charge refused" in e["logentry"]["message"]]
    assert plain["logentry"]["formatted"] == f"charge refused, api_key={MARKER}"
    assert plain["logentry"]["params"] == [MARKER]


def test_a_client_the_application_started_is_scrubbed_too(transport: CapturingTransport) -> None:
    """sentry_sdk.init by the application, a SentryHandler using it: the same guarantees."""
    sentry_sdk.init(dsn=corpus.DSN, transport=transport)
    log = logging.getLogger(corpus.LOGGER)
    handler = SentryHandler()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        corpus.log_everything(log)
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    assert corpus.leaks(sent_items(transport)) == []
    event = error_event(transport)
    check_log_event(event, event["contexts"]["extra"])
    check_scope_and_frames(event, pii=False)


# --- the web middleware -----------------------------------------------------------------------

BODIES = {
    "json": ("application/json", corpus.JSON_BODY, "body_json_password"),
    "form": ("application/x-www-form-urlencoded", corpus.FORM_BODY, "body_form_password"),
}


def check_request(event: dict[str, Any], body: str, pii: bool) -> None:
    """Headers, query string and body of a request event: the marker where each secret was."""
    request = event["request"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    # The middleware drops these three headers whatever send_default_pii says (see
    # test_web_credentials_headers_keep_a_marker for the marker they should leave).
    for name in ("authorization", "cookie", "set-cookie"):
        assert headers.get(name) in (None, MARKER), name
    assert headers["proxy-authorization"] == MARKER
    assert headers["x-api-key"] == MARKER
    assert headers["x-request-id"] == "req-42"
    assert request["query_string"] == QUERY_SCRUBBED
    assert "cookies" not in request or request["cookies"] == MARKER
    if not pii:
        assert get_env(event, "REMOTE_ADDR") in (None, MARKER)
        assert request.get("data") in (None, MARKER)
    elif body == "json":
        assert json.loads(request["data"]) == {
            "user": "alice",
            "password": MARKER,
            "remember": True,
        }
    else:
        assert request["data"] == f"user=alice&password={MARKER}&remember=1"


def get_env(event: dict[str, Any], name: str) -> Any:
    return corpus.get(event, "request", "env", name)


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
def test_wsgi_middleware_sends_no_planted_secret(
    corpus_log: Callable[..., logging.Logger],
    transport: CapturingTransport,
    pii: bool,
    body: str,
) -> None:
    """A real WSGI call with every request secret; the crash event carries none of them."""
    corpus_log(send_default_pii=pii)  # the INFO record inside the request becomes a breadcrumb
    app = WsgiMiddleware(corpus.wsgi_app, dsn=corpus.DSN, transport=transport, send_default_pii=pii)
    content_type, payload, _ = BODIES[body]
    response = wsgi_call(
        app,
        "/login",
        method="POST",
        query=corpus.QUERY,
        headers={**corpus.request_headers(), "Content-Type": content_type},
        body=payload,
    )
    assert response.status == 500
    assert corpus.leaks(sent_items(transport), pii=pii) == []
    event = error_event(transport)
    check_request(event, body, pii)
    check_scope_and_frames(event, pii)


def test_web_credentials_headers_keep_a_marker(
    corpus_log: Callable[..., logging.Logger], transport: CapturingTransport
) -> None:
    """A scrubbed header is replaced by the marker, never removed silently (issue #7, item 1)."""
    app = WsgiMiddleware(corpus.wsgi_app, dsn=corpus.DSN, transport=transport)
    wsgi_call(app, "/login", headers=corpus.request_headers())
    headers = {k.lower(): v for k, v in error_event(transport)["request"]["headers"].items()}
    assert [headers.get(n) for n in ("authorization", "cookie", "set-cookie")] == [MARKER] * 3


def wsgi_corpus_call(app: WsgiMiddleware) -> None:
    content_type, payload, _ = BODIES["json"]
    headers = {**corpus.request_headers(), "Content-Type": content_type}
    wsgi_call(app, "/login", method="POST", query=corpus.QUERY, headers=headers, body=payload)


def test_transactions_scrubbed_by_the_transaction_hook(transport: CapturingTransport) -> None:
    """scrubbing_before_send_transaction: a transaction of the request carries no secret."""
    policy = ScrubPolicy(literals=[corpus.DSN_KEY])
    sentry_sdk.init(
        dsn=corpus.DSN,
        transport=transport,
        traces_sample_rate=1.0,
        before_send_transaction=scrubbing_before_send_transaction(policy),
    )
    wsgi_corpus_call(WsgiMiddleware(corpus.wsgi_app))
    (transaction,) = transactions(transport)
    assert corpus.leaks(json.dumps(transaction), pii=True) == []
    for name, value in corpus.scope_markers(transaction).items():
        assert name == "crumb_data_secret" or corpus.has_marker(value), (name, value)
    assert transaction["request"]["query_string"] == QUERY_SCRUBBED


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
def test_transactions_of_our_client_carry_no_planted_secret(
    transport: CapturingTransport, pii: bool
) -> None:
    """With tracing on, the request's transaction is scrubbed like its events."""
    app = WsgiMiddleware(
        corpus.wsgi_app,
        dsn=corpus.DSN,
        transport=transport,
        traces_sample_rate=1.0,
        send_default_pii=pii,
    )
    wsgi_corpus_call(app)
    assert transactions(transport)
    assert corpus.leaks(sent_items(transport), pii=pii) == []


def test_application_client_request_carries_no_planted_secret(
    transport: CapturingTransport,
) -> None:
    """sentry_sdk.init by the application, WsgiMiddleware on top: the request is scrubbed."""
    sentry_sdk.init(dsn=corpus.DSN, transport=transport)
    wsgi_corpus_call(WsgiMiddleware(corpus.wsgi_app))
    assert corpus.leaks(sent_items(transport)) == []


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EnvelopeServer]:
    with envelope_server() as server:
        yield server


@pytest.mark.parametrize("pii", [False, True], ids=["pii-off", "pii-on"])
def test_asgi_middleware_under_uvicorn_sends_no_planted_secret(
    endpoint: EnvelopeServer, tmp_path: Path, pii: bool
) -> None:
    """Real HTTP requests to uvicorn serving the corpus app; the envelopes it sends are clean."""
    port = free_port()
    env = {"SENTRY_DSN": endpoint.dsn(key=corpus.DSN_KEY), "CORPUS_PII": "1" if pii else "0"}
    argv = uvicorn_argv("secret_corpus:asgi_app", port, HERE)
    before = len(endpoint.envelopes)
    with serve(argv, port, env, tmp_path / "uvicorn.log"):
        for body in sorted(BODIES):
            content_type, payload, _ = BODIES[body]
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                headers = {**corpus.request_headers(), "Content-Type": content_type}
                connection.request("POST", f"/login?{corpus.QUERY}", payload, headers)
                assert connection.getresponse().status == 500
            finally:
                connection.close()
            assert endpoint.wait_for(before + 1, timeout=10)
            (event,) = envelope_items(endpoint.envelopes[before:], "event")
            before = len(endpoint.envelopes)
            check_request(event, body, pii)
            check_scope_and_frames(event, pii)
            if pii:
                assert get_env(event, "REMOTE_ADDR") == "127.0.0.1"
    items = "\n".join(
        line.decode("utf-8", "replace")
        for envelope in endpoint.envelopes
        for line in envelope.split(b"\n")[1:]
    )
    assert corpus.leaks(items, pii=pii) == []


# --- JSON lines -------------------------------------------------------------------------------


def _formatter_scrubs() -> bool:
    try:
        JsonFormatter(scrub_keys=())
        LoguruJsonFormat(scrub_keys=())
    except TypeError:
        return False
    return True


needs_formatter_scrubbing = pytest.mark.skipif(
    not _formatter_scrubs(), reason="JsonFormatter/LoguruJsonFormat have no scrub options yet"
)


def check_json_line(line: dict[str, Any]) -> None:
    """The marker where the error line held each secret (labels hold extras as text)."""
    assert MARKER in line["message"]
    assert MARKER in line["error"]["message"]
    labels = line["labels"]
    assert labels["password"] == MARKER
    assert labels["db_password"] == MARKER
    stack = line["error"]["stack_trace"]
    assert f'connect(user, secret_token="{MARKER}")' in stack
    assert f'verify(user, "{MARKER}", headers)' in stack
    assert 'password = SECRETS["local_password"]' not in stack  # not a line that ran
    order = json.loads(labels["order"])
    assert order["payment"]["gateway"]["credentials"] == MARKER
    assert order["payment"]["gateway"]["attempts"] == [{"n": 1, "secret": MARKER}]
    assert order["payment"]["note"] == f"paid with {MARKER}"
    assert labels["upstream"] == f"https://svc:{MARKER}@pay.example.org/v1"
    assert labels["harmless"] == "order 7 for alice"


@needs_formatter_scrubbing
def test_json_formatter_lines_carry_no_planted_secret() -> None:
    """JsonFormatter with the default policy: labels, message, error.message, stack trace."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service_name="corpus"))
    log = logging.getLogger(corpus.LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        corpus.log_everything(log)
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    text = stream.getvalue()
    # No handler configured a DSN: the key is not known to the formatter, not sought.
    assert [n for n in corpus.leaks(text) if n != "dsn_key"] == []
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["labels"] == {"access_token": MARKER, "step": "cart"}
    check_json_line(lines[1])


@needs_formatter_scrubbing
def test_one_policy_for_events_and_lines(
    corpus_log: Callable[..., logging.Logger], transport: CapturingTransport
) -> None:
    """A SentryHandler's policy (its DSN key, its scrub_keys) also scrubs JsonFormatter lines."""
    log = corpus_log(scrub_keys=["order"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service_name="corpus"))
    log.addHandler(handler)
    try:
        corpus.log_everything(log)
        corpus.dsn_key_record(log)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert corpus.leaks(text) == []
    assert corpus.leaks(sent_items(transport)) == []
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[1]["labels"]["order"] == MARKER
    assert error_event(transport)["contexts"]["extra"]["order"] == MARKER
    assert lines[-1]["message"] == f"misconfigured client, key {MARKER} in use"


@needs_formatter_scrubbing
def test_json_formatter_declared_fields_are_scrubbed() -> None:
    """Declared fields keep their type and name; a secret in them becomes the marker."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    fields = {"password": "keyword", "upstream": "keyword", "order_id": "long"}
    handler.setFormatter(JsonFormatter(fields=fields))
    log = logging.getLogger(corpus.LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.error("declared", extra={**corpus.extras(), "order_id": 7})
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    text = stream.getvalue()
    assert [n for n in corpus.leaks(text, pii=True) if n != "dsn_key"] == []
    (line,) = [json.loads(line) for line in text.splitlines()]
    assert line["password"] == MARKER
    assert line["upstream"] == f"https://svc:{MARKER}@pay.example.org/v1"
    assert line["order_id"] == 7
    assert "password" not in line["labels"]


@needs_formatter_scrubbing
def test_json_formatter_follows_user_keys_and_patterns() -> None:
    """scrub_keys, scrub_patterns and scrub_defaults_off on the formatter, as on the handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            scrub_keys=["ssn"], scrub_patterns=[r"ORDER-\d{6}"], scrub_defaults_off=["session"]
        )
    )
    log = logging.getLogger(corpus.LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("ref ORDER-123456", extra={"ssn": "078-05-1120", "session": "visible"})
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line["message"] == f"ref {MARKER}"
    assert line["labels"] == {"ssn": MARKER, "session": "visible"}


@needs_formatter_scrubbing
def test_loguru_json_lines_carry_no_planted_secret() -> None:
    """LoguruJsonFormat: the same corpus through loguru's bind() and exception()."""
    lines: list[str] = []
    logger.remove()
    logger.add(lines.append, format=LoguruJsonFormat(service_name="corpus"), level="INFO")
    try:
        corpus.loguru_everything()
    finally:
        logger.remove()
    text = "".join(lines)
    assert [n for n in corpus.leaks(text, pii=True) if n != "dsn_key"] == []
    documents = [json.loads(line) for line in text.splitlines()]
    assert documents[0]["labels"] == {"access_token": MARKER, "step": "cart"}
    check_json_line(documents[1])


def test_capture_error_sends_no_planted_secret(
    corpus_log: Callable[..., logging.Logger], transport: CapturingTransport
) -> None:
    """capture_error: the scope, the raising frames and their source lines, context, tags."""
    log = corpus_log()
    log.info("cart loaded", extra=corpus.crumb_extras())  # a breadcrumb, the client started
    event_id = corpus.capture_everything()
    assert event_id is not None
    assert corpus.leaks(sent_items(transport)) == []
    event = error_event(transport)
    check_scope_and_frames(event, pii=False)
    assert event["contexts"]["context"]["payment"]["password"] == MARKER
    assert event["tags"]["upstream"] == f"https://svc:{MARKER}@api.example.org"
