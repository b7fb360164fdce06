"""Secrets II: code-shaped rules, source lines, parameters, one secret hidden everywhere, bad input.

The policy's entry points one by one (a text, a line of code, an event, a
JSON line), each through the real thing that calls it: a real sentry-sdk
client with a capturing transport, a real JsonFormatter, real loguru.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import sentry_sdk
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger

from sentry_logging_std import JsonFormatter, LoguruJsonFormat, SentryHandler, SentrySink
from sentry_logging_std._scrub import HIDE_EXACT, HIDE_INSIDE, MARKER, ScrubPolicy

from . import secret_corpus as corpus
from .conftest import TEST_DSN, CapturingTransport

POLICY = ScrubPolicy()

# --- the key=value rule reads code ------------------------------------------------------------

#: (source line, what it becomes): every shape in which code names a secret and gives it.
CODE_SHAPES = [
    ('secret_token = "tok-1234567"', f'secret_token = "{MARKER}"'),
    ("password = 'pw-1234567'", f"password = '{MARKER}'"),
    ('api_key: str = "ak-1234567"', f'api_key: str = "{MARKER}"'),
    ('db_password: Optional[str] = "pw-1234567"', f'db_password: Optional[str] = "{MARKER}"'),
    ('connect(host, password="pw-1234567")', f'connect(host, password="{MARKER}")'),
    ('extra={"password": "pw-1234567"}', f'extra={{"password": "{MARKER}"}}'),
    ("{'client_secret': 'cs-1234567'}", f"{{'client_secret': '{MARKER}'}}"),
    (
        'headers["Authorization"] = "Basic dXNlcjpwYXNzd29yZA=="',
        f'headers["Authorization"] = "Basic {MARKER}"',
    ),
    ("headers['X-Api-Key'] = 'k-1234567'", f"headers['X-Api-Key'] = '{MARKER}'"),
    ('if token == "tok-1234567":', f'if token == "{MARKER}":'),
    ('TOKEN := "tok-1234567"', f'TOKEN := "{MARKER}"'),
    ('password = b"raw-bytes-pw"', f'password = b"{MARKER}"'),
    ('password = r"raw\\string"', f'password = r"{MARKER}"'),
    ('password = "with \\" a quote"', f'password = "{MARKER}"'),
    ("session_id = 123456789", f"session_id = {MARKER}"),
]


@pytest.mark.parametrize(("line", "expected"), CODE_SHAPES)
def test_code_shapes_lose_their_literal(line: str, expected: str) -> None:
    assert POLICY.code(line) == expected
    # Text (a message, an exception's text) is read at least as strictly.
    assert POLICY.text(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        'password = os.environ["DB_PASSWORD"]',
        "token = request.headers.get('X-Token')",
        "def verify(user: str, password: str) -> None:",
        "secret = load_secret(name)",
        "if password is None:",
        'log.error("login failed for password=%s", password)',
    ],
)
def test_code_without_a_literal_stays_as_written(line: str) -> None:
    """A name or an expression after a secret's name is code, not a secret: kept readable."""
    assert POLICY.code(line) == line


@pytest.mark.parametrize(
    "template",
    [
        "login failed for password=%s",
        "login failed for password=%(pw)s and token=%r",
        "login failed for password={} and token={pw}",
        "login failed, password: %s",
    ],
)
def test_templates_keep_their_placeholders(template: str) -> None:
    """``password=%s`` in a template holds no secret: it stays readable in logentry.message."""
    assert POLICY.text(template) == template


def test_a_secret_shaped_like_a_placeholder_is_not_one() -> None:
    assert POLICY.text("password=%d9f8!x ok") == f"password={MARKER} ok"


def test_a_scheme_after_a_secret_key_hides_the_credential_after_it() -> None:
    """A plain word after ``Bearer`` is prose, unless a secret key names it a credential."""
    assert POLICY.text("Token refreshed") == "Token refreshed"
    assert POLICY.text("Authorization: Bearer abcdefghijk") == f"Authorization: Bearer {MARKER}"


def test_secret_arguments_are_the_placeholders_under_secret_keys() -> None:
    assert POLICY.secret_arguments("user=%s password=%s token=%s id=%d") == {1, 2}
    assert POLICY.secret_arguments("user=%(u)s password=%(pw)s 100%%") == {"pw"}
    assert POLICY.secret_arguments("{} token={} {name} password={pw} {{x}}") == {1, "pw"}
    assert POLICY.secret_arguments("nothing hidden: %s") == set()


# --- one secret, hidden everywhere ------------------------------------------------------------


def test_hider_hides_long_secrets_inside_texts_and_short_ones_only_whole() -> None:
    long_secret = "x" * HIDE_INSIDE
    short_secret = "y" * HIDE_EXACT
    hide = POLICY.hider({long_secret, short_secret, "zz", "None", MARKER})
    assert hide is not None
    assert hide(f"call({long_secret!r})") == f"call('{MARKER}')"
    assert hide(short_secret) == MARKER
    assert hide(repr(short_secret)) == MARKER  # a frame variable is its repr
    assert hide(f"a {short_secret} b") == f"a {short_secret} b"  # would blank words
    assert hide("zz top") == "zz top"
    assert hide("None") == "None"  # says there is no secret
    assert POLICY.hider({"ab", "null", "enabled"}) is None  # words that say what, not secrets


def capture(event: dict[str, Any], transport: CapturingTransport) -> dict[str, Any]:
    """*event* sent through a real client whose before_send is the policy's."""
    from sentry_logging_std._scrub import scrubbing_before_send

    sentry_sdk.init(
        dsn=TEST_DSN, transport=transport, before_send=scrubbing_before_send(POLICY, None)
    )
    sentry_sdk.capture_event(cast(Any, event))
    (sent,) = transport.events
    return sent


def test_a_secret_seen_once_is_hidden_in_every_place_of_the_event(
    transport: CapturingTransport,
) -> None:
    secret = "rst-9Yb2-refresh"
    sent = capture(
        {
            "message": f"refresh_token={secret}",
            "logentry": {
                "message": "refresh %s",
                "params": [secret],
                "formatted": f"refresh {secret}",
            },
            "tags": {"last": secret},
            "fingerprint": ["refresh", secret],
            "extra": {"echo": f"seen {secret} twice", "count": 3},
            "breadcrumbs": {"values": [{"message": f"called with {secret}"}]},
            "exception": {
                "values": [
                    {
                        "type": "ValueError",
                        "value": f"bad {secret}",
                        "stacktrace": {
                            "frames": [
                                {
                                    "function": "refresh",
                                    "filename": "app.py",
                                    "context_line": f'    refresh(user, "{secret}")',
                                    "vars": {"value": repr(secret)},
                                }
                            ]
                        },
                    }
                ]
            },
        },
        transport,
    )
    assert secret not in json.dumps(sent)
    assert sent["message"] == f"refresh_token={MARKER}"
    assert sent["logentry"]["params"] == [MARKER]
    assert sent["tags"]["last"] == MARKER
    assert sent["fingerprint"] == ["refresh", MARKER]
    assert sent["extra"]["echo"] == f"seen {MARKER} twice"
    frame = sent["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert frame["context_line"] == f'    refresh(user, "{MARKER}")'
    assert MARKER in frame["vars"]["value"]  # its repr (sentry-sdk 2.0 quotes it once more)
    assert frame["function"] == "refresh"
    assert sent["exception"]["values"][0]["type"] == "ValueError"


def test_a_short_argument_under_a_secret_placeholder_is_hidden(
    transport: CapturingTransport,
) -> None:
    """``password=%s`` with a password too short to hide by its text: the parameter still goes."""
    handler = SentryHandler(dsn=TEST_DSN, transport=transport)
    log = logging.getLogger("tests.short")
    log.addHandler(handler)
    try:
        log.error("login failed for user=%s password=%s", "bob", "Zq9x")
        log.error("login failed for %(user)s password=%(pw)s", {"user": "bob", "pw": "Zq9x"})
        handler.flush()
    finally:
        log.removeHandler(handler)
        handler.close()
    positional, named = transport.events
    assert positional["logentry"]["params"] == ["bob", MARKER]
    assert positional["logentry"]["message"] == "login failed for user=%s password=%s"
    assert named["logentry"]["params"] == {"user": "bob", "pw": MARKER}
    for event in (positional, named):
        assert "Zq9x" not in json.dumps(event["logentry"])


# --- JSON lines: one secret hidden in the whole line ------------------------------------------


def verify_login(user: str, secret: str) -> None:
    raise PermissionError(f"bad credentials for {user}")


def json_lines(emit: Any) -> list[dict[str, Any]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.lines")
    log.addHandler(handler)
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_hides_a_scrubbed_value_in_every_field() -> None:
    """The password of ``password=%s`` is also gone from the stack trace's source line."""

    def emit(log: logging.Logger) -> None:
        try:
            verify_login("bob", "vpw-7Hk2-verify")
        except PermissionError:
            log.exception(
                "login failed password=%s", "vpw-7Hk2-verify", extra={"echo": "vpw-7Hk2-verify"}
            )

    (line,) = json_lines(emit)
    assert "vpw-7Hk2-verify" not in json.dumps(line)
    assert line["message"] == f"login failed password={MARKER}"
    assert line["labels"]["echo"] == MARKER
    assert f'verify_login("bob", "{MARKER}")' in line["error"]["stack_trace"]
    assert line["error"]["type"] == "PermissionError"
    assert line["log"]["logger"] == "tests.lines"


def test_a_json_line_without_a_scrubbed_value_is_left_alone() -> None:
    """The slow path runs only for a line holding the marker, and changes nothing else."""
    lines = json_lines(lambda log: log.error("plain %s [Filtered]", "verify", extra={"n": 1}))
    assert lines[0]["message"] == "plain verify [Filtered]"
    assert lines[0]["labels"] == {"n": "1"}


def test_loguru_json_line_hides_a_scrubbed_value_in_every_field() -> None:
    written: list[str] = []
    logger.remove()
    logger.add(written.append, format=LoguruJsonFormat())
    try:
        try:
            verify_login("bob", "vpw-8Jm3-loguru")
        except PermissionError:
            logger.bind(password="vpw-8Jm3-loguru").exception("login failed")
    finally:
        logger.remove()
    (line,) = [json.loads(text) for text in written]
    assert "vpw-8Jm3-loguru" not in json.dumps(line)
    assert f'verify_login("bob", "{MARKER}")' in line["error"]["stack_trace"]


def test_json_lines_written_to_a_file_hold_no_planted_secret(tmp_path: Path) -> None:
    """The corpus through a FileHandler and a loguru file sink: the files' bytes are clean."""
    path = tmp_path / "app.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter(service_name="corpus"))
    log = logging.getLogger(corpus.LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        corpus.log_everything(log)
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
        handler.close()
    loguru_path = tmp_path / "loguru.log"
    logger.remove()
    logger.add(loguru_path, format=LoguruJsonFormat(service_name="corpus"), level="INFO")
    try:
        corpus.loguru_everything()
    finally:
        logger.remove()
    for written in (path, loguru_path):
        text = written.read_bytes().decode("utf-8")
        assert [n for n in corpus.leaks(text, pii=True) if n != "dsn_key"] == [], written
        assert len(text.splitlines()) == 3
        assert "order 7 for alice" in text  # the search reads the lines


# --- bad input --------------------------------------------------------------------------------


class HostileText(str):
    """A string whose methods raise: no rule can read it."""

    __slots__ = ()

    def lower(self) -> str:
        raise RuntimeError("hostile")

    def isascii(self) -> bool:
        raise RuntimeError("hostile")


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("hostile repr")

    __str__ = __repr__


def test_a_value_that_cannot_be_scrubbed_becomes_the_marker_and_is_counted() -> None:
    policy = ScrubPolicy()
    event = {"extra": {"note": HostileText("password=hunter22"), "object": BrokenRepr()}}
    scrubbed = policy.event(event, send_default_pii=False)
    assert scrubbed["extra"] == {"note": MARKER, "object": MARKER}
    assert policy.counts["scrub_errors"] == 2
    assert policy.text(HostileText("anything")) == MARKER
    assert policy.code(HostileText("anything")) == MARKER


def test_hostile_values_through_the_application_client_reach_stats(
    transport: CapturingTransport,
) -> None:
    """The application's client sees raw objects: an unreadable one goes as the marker."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)
    handler = SentryHandler()
    log = logging.getLogger("tests.hostile")
    log.addHandler(handler)
    try:
        sentry_sdk.set_context("hostile", {"value": BrokenRepr()})
        log.error("with a hostile context")
        handler.flush()
    finally:
        log.removeHandler(handler)
    (event,) = transport.events
    assert event["contexts"]["hostile"] == {"value": MARKER}
    assert handler.stats().get("scrub_errors", 0) >= 1


@given(st.text(max_size=80))
def test_every_entry_point_returns_a_string_and_never_raises(text: str) -> None:
    for entry in (POLICY.text, POLICY.code, POLICY.long_text):
        assert type(entry(text)) is str
    found: set[str] = set()
    POLICY.found(text, found)
    hide = POLICY.hider(found)
    if hide is not None:
        assert type(hide(text)) is str


@given(st.sampled_from([s for s, _ in CODE_SHAPES]), st.text(max_size=20))
def test_scrubbing_code_twice_changes_nothing_more(line: str, tail: str) -> None:
    once = POLICY.code(line + tail)
    assert POLICY.code(once) == once


@pytest.fixture
def sink_events(transport: CapturingTransport) -> Iterator[CapturingTransport]:
    logger.remove()
    sink = SentrySink(dsn=TEST_DSN, transport=transport)
    logger.add(sink, level="INFO")
    yield transport
    logger.remove()


def test_loguru_plain_error_hides_its_argument_in_the_line_that_logged_it(
    sink_events: CapturingTransport,
) -> None:
    corpus.loguru_refused_charge()
    (event,) = sink_events.events
    assert event["logentry"]["params"] == [MARKER]
    lines = corpus.frame_source(event, "loguru_refused_charge")
    assert f'"charge refused, api_key={{}}", "{MARKER}"' in lines, lines


def test_source_context_and_repeats_can_be_turned_off(transport: CapturingTransport) -> None:
    """``scrub_defaults_off``: source lines as written, removed secrets not sought elsewhere."""
    policy = ScrubPolicy(defaults_off=["source_context", "secret_repeats"])
    line = 'secret_token = "tok-1234567"'
    assert policy.code(line) == line
    event = policy.event(
        {
            "message": "password=pw-1234567",
            "tags": {"echo": "pw-1234567"},
            "threads": {"values": [{"stacktrace": {"frames": [{"context_line": line}]}}]},
        },
        send_default_pii=False,
    )
    assert event["message"] == f"password={MARKER}"
    assert event["tags"]["echo"] == "pw-1234567"
    assert event["threads"]["values"][0]["stacktrace"]["frames"][0]["context_line"] == line

    def emit(log: logging.Logger) -> None:
        try:
            verify_login("bob", "vpw-7Hk2-verify")
        except PermissionError:
            log.exception("login failed password=%s", "vpw-7Hk2-verify")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(scrub_defaults_off=["source_context", "secret_repeats"]))
    log = logging.getLogger("tests.lines.off")
    log.addHandler(handler)
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    (document,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert document["message"] == f"login failed password={MARKER}"
    assert 'verify_login("bob", "vpw-7Hk2-verify")' in document["error"]["stack_trace"]


def test_repeats_are_hidden_in_raw_events_too_and_names_of_the_event_stay() -> None:
    """An application client's processor sees raw objects (a datetime): the event is walked.

    Members naming the event (release, trace ids, frame functions) are never rewritten.
    """
    from datetime import datetime, timezone

    secret = "rst-4Kq8-raw-refresh"
    moment = datetime(2026, 1, 2, tzinfo=timezone.utc)
    trace_id = "ab" * 16
    raw = {
        "timestamp": moment,
        "release": f"build-{secret}",
        "message": f"refresh_token={secret}",
        "extra": {"echo": f"again {secret}", "when": moment},
        "contexts": {"trace": {"trace_id": trace_id, "span_id": "cd" * 8}},
    }
    serialized = json.loads(json.dumps({**raw, "timestamp": "2026-01-02T00:00:00Z"}, default=str))
    for event in (raw, serialized):
        scrubbed = ScrubPolicy().event(event, send_default_pii=False)
        assert scrubbed["extra"]["echo"] == f"again {MARKER}"
        assert scrubbed["release"] == f"build-{secret}"
        assert scrubbed["contexts"]["trace"]["trace_id"] == trace_id
    assert raw["timestamp"] is moment


def test_a_short_secret_is_hidden_where_a_whole_field_equals_it() -> None:
    """Four or five characters: a field equal to it goes (its repr too), a longer text stays."""
    event = {
        "message": "pin accepted, pin_token=Zq9x",
        "tags": {"pin": "Zq9x", "note": "Zq9x is short"},
        "extra": {"var": "'Zq9x'"},
    }
    scrubbed = ScrubPolicy().event(event, send_default_pii=False)
    assert scrubbed["tags"] == {"pin": MARKER, "note": "Zq9x is short"}
    assert scrubbed["extra"]["var"] == MARKER


def test_hiding_a_repeat_never_changes_a_declared_fields_type() -> None:
    """A number equal to a removed secret stays a number in a declared long field."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(fields={"order_id": "long"}))
    log = logging.getLogger("tests.lines.types")
    log.addHandler(handler)
    try:
        log.error("retry with pin_token=%s", "123456", extra={"order_id": 123456, "n": "123456"})
    finally:
        log.removeHandler(handler)
    (document,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert document["message"] == f"retry with pin_token={MARKER}"
    assert document["order_id"] == 123456
    assert document["labels"]["n"] == MARKER


def test_bytes_and_objects_are_scrubbed_as_the_repr_sentry_sdk_would_write() -> None:
    """An application client's processor sees raw values: their text is scrubbed before it goes."""

    class Settings:
        def __repr__(self) -> str:
            return "Settings(api_key=ak-5Tg7-settings)"

    scrubbed = POLICY.value({"body": b"password=pw-1234567", "plain": b"abc", "obj": Settings()})
    assert scrubbed == {
        "body": f"b'password={MARKER}'",
        "plain": b"abc",
        "obj": f"Settings(api_key={MARKER})",
    }
