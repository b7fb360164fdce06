"""Secrets never leave the process: the scrubbing policy on Sentry events."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_logging_std import SentryHandler
from sentry_logging_std._scrub import DEFAULT_KEYS, MARKER, ScrubPolicy

from .conftest import TEST_DSN, CapturingTransport, MakeHandler, shown_message
from .envelope_server import envelope_server

ROOT = Path(__file__).resolve().parent.parent

#: Planted secrets; none of them may appear anywhere in what is sent.
SECRETS = {
    "password": "hunter2-correct-horse",
    "token": "tok_9f8e7d6c5b4a",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.payload.signature",
    "basic": "dXNlcjpzM2NyM3Q=",
    "url": "pa55w0rd-in-url",
    "card": "4111 1111 1111 1111",
    "api_key": "ak_live_00112233",
    "cookie": "sessionid=abcdef123456",
    "local": "local-variable-secret",
    "crumb": "breadcrumb-secret-value",
    "user": "user-secret-value",
    "context": "nested-context-secret",
    "tag": "tag-secret-value",
}


def place(secret_in_local: str) -> None:
    password = secret_in_local  # noqa: F841 - a local variable named like a secret
    raise RuntimeError(f"login failed with Authorization: Bearer {SECRETS['bearer']}")


def everything_sent(transport: CapturingTransport) -> str:
    return "\n".join(
        envelope.serialize().decode("utf-8", "replace") for envelope in transport.envelopes
    )


def test_no_planted_secret_reaches_the_transport(make_handler: MakeHandler) -> None:
    """Secrets in extras, contexts, tags, user, breadcrumbs, messages, locals: all filtered."""
    _, transport = make_handler(tag_keys=["session"])
    log = logging.getLogger("tests.app")
    log.info(
        "connecting",
        extra={
            "api_key": SECRETS["api_key"],
            "note": SECRETS["crumb"] and "x",
            "auth": {"token": SECRETS["crumb"]},
        },
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_user({"id": "u-1", "password": SECRETS["user"]})
        scope.set_context(
            "db",
            {
                "dsn": f"postgres://app:{SECRETS['url']}@db/prod",
                "deep": [{"secret": SECRETS["context"]}],
            },
        )
        try:
            place(SECRETS["local"])
        except RuntimeError:
            log.exception(
                "login failed for %s with card %s",
                "alice",
                SECRETS["card"],
                extra={
                    "password": SECRETS["password"],
                    "headers": {
                        "Authorization": f"Basic {SECRETS['basic']}",
                        "Cookie": SECRETS["cookie"],
                    },
                    "tags": {"token": SECRETS["tag"]},
                    "session": SECRETS["token"],
                    "dsn_seen": TEST_DSN,
                },
            )
    (event,) = transport.events
    sent = everything_sent(transport)
    for name, secret in SECRETS.items():
        assert secret not in sent, name
    assert "publickey" not in sent.split("\n", 1)[1]  # the DSN's key, outside the envelope header
    assert event["contexts"]["extra"]["password"] == MARKER
    assert event["tags"]["session"] == MARKER
    assert event["user"] == {"id": "u-1", "password": MARKER}
    assert MARKER in event["exception"]["values"][-1]["value"]
    assert event["logentry"]["formatted"] == f"login failed for alice with card {MARKER}"


def test_before_send_runs_after_scrubbing_and_its_failure_is_counted(
    make_handler: MakeHandler,
) -> None:
    """The user's before_send sees scrubbed events; one that raises loses nothing."""
    seen: list[Any] = []

    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        seen.append(json.dumps(event.get("contexts", {}).get("extra"), default=str))
        raise ValueError("broken before_send")

    handler, transport = make_handler(before_send=before_send)
    logging.getLogger("tests.app").error("x", extra={"password": SECRETS["password"]})
    (event,) = transport.events
    assert SECRETS["password"] not in seen[0]
    assert event["contexts"]["extra"]["password"] == MARKER
    assert handler.stats()["before_send_errors"] >= 1


def test_users_add_keys_patterns_and_turn_defaults_off(make_handler: MakeHandler) -> None:
    """scrub_keys and scrub_patterns add; scrub_defaults_off removes a default."""
    _, transport = make_handler(
        scrub_keys=["ssn"], scrub_patterns=[r"ORDER-\d{6}"], scrub_defaults_off=["session"]
    )
    logging.getLogger("tests.app").error(
        "ref ORDER-123456", extra={"ssn": "078-05-1120", "session": "visible-session"}
    )
    (event,) = transport.events
    assert event["contexts"]["extra"] == {"ssn": MARKER, "session": "visible-session"}
    assert shown_message(event) == f"ref {MARKER}"


def test_bad_scrub_options_name_the_option() -> None:
    """A bad pattern or an unknown default is an error naming the option."""
    with pytest.raises(ValueError, match="scrub_patterns"):
        SentryHandler(scrub_patterns=["("])
    with pytest.raises(ValueError, match="scrub_defaults_off"):
        SentryHandler(scrub_defaults_off=["no_such_default"])


def test_application_client_is_scrubbed_too(transport: CapturingTransport) -> None:
    """With the application's own client, the handler's policy still applies."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)
    log = logging.getLogger("tests.appclient.scrub")
    handler = SentryHandler()
    log.addHandler(handler)
    try:
        log.error("x", extra={"password": SECRETS["password"]})
    finally:
        log.removeHandler(handler)
    (event,) = transport.events
    assert event["contexts"]["extra"]["password"] == MARKER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdef123456", f"Authorization: Bearer {MARKER}"),
        ("https://bob:s3cr3t@example.com/x", f"https://bob:{MARKER}@example.com/x"),
        ("card 4111-1111-1111-1111 ok", f"card {MARKER} ok"),
        ("order 1234567890123 not a card", "order 1234567890123 not a card"),
        # Digits after a decimal point are a fraction, not a card (this one passes Luhn).
        ("took 0.4111111111111111 s", "took 0.4111111111111111 s"),
        ("took 7.4111111111111111e-05 s", "took 7.4111111111111111e-05 s"),
        ("password=abc&user=bob", f"password={MARKER}&user=bob"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_patterns(text: str, expected: str) -> None:
    """The default patterns find credentials, URL passwords and Luhn-valid card numbers."""
    assert ScrubPolicy().text(text) == expected


harmless_keys = st.text(min_size=1, max_size=12).filter(lambda k: not ScrubPolicy().secret_key(k))
harmless_text = st.from_regex(r"[a-z ]{0,30}", fullmatch=True)


def harmless_nesting(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(harmless_keys, inner, max_size=4)


def any_nesting(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | harmless_text,
    harmless_nesting,
    max_leaves=20,
)
anything = st.recursive(
    st.none() | st.integers() | st.text() | st.binary() | st.floats(),
    any_nesting,
    max_leaves=30,
)


@settings(max_examples=300)
@given(values)
def test_scrubbing_leaves_harmless_values_alone(value: Any) -> None:
    """Values with no secret key and no secret-looking text come back equal."""
    policy = ScrubPolicy()
    scrubbed = policy.value(value)
    assert json.dumps(scrubbed, sort_keys=True, default=repr) == json.dumps(
        value if not isinstance(value, tuple) else list(value), sort_keys=True, default=repr
    )


@settings(max_examples=300)
@given(anything)
def test_scrubbing_never_raises(value: Any) -> None:
    """Any structure, however odd, is scrubbed without an exception, input unchanged."""
    before = repr(value)
    ScrubPolicy().value(value)
    assert repr(value) == before


def test_failing_before_send_is_printed_with_debug_and_counted() -> None:
    """debug=True prints the before_send failure; the event still arrives, scrubbed; counted."""
    source = """
        import logging, os
        from sentry_logging_std import SentryHandler

        def before_send(event, hint):
            raise ValueError("broken before_send")

        handler = SentryHandler(dsn=os.environ["DSN"], debug=True, transport="sync",
                                before_send=before_send, capture="sync")
        log = logging.getLogger("script")
        log.addHandler(handler)
        log.error("x", extra={"password": "pw-in-script-1234"})
        print("before_send_errors", handler.stats().get("before_send_errors"))
        """
    with envelope_server() as server:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(source)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT), "DSN": server.dsn()},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(1)
        (event,) = server.events()
    assert "before_send raised" in result.stderr
    assert "ValueError: broken before_send" in result.stderr
    assert "before_send_errors 1" in result.stdout
    assert event["contexts"]["extra"]["password"] == MARKER
    assert "pw-in-script-1234" not in result.stderr


def personal_event() -> dict[str, Any]:
    return {
        "user": {"id": "u-1", "email": "bob@example.org", "ip_address": "203.0.113.9"},
        "request": {
            "env": {"REMOTE_ADDR": "203.0.113.9", "SERVER_NAME": "shop"},
            "cookies": {"theme": "dark"},
            "data": '{"name": "bob", "password": "pw-1"}',
        },
    }


def test_without_send_default_pii_personal_data_is_marked_or_noted() -> None:
    """No e-mail, client address, cookies or body; the IP is removed and said so in _meta."""
    event = ScrubPolicy().event(personal_event(), send_default_pii=False)
    assert event["user"] == {"id": "u-1", "email": MARKER}
    assert event["_meta"]["user"]["ip_address"] == {"": {"rem": [["!config", "x"]]}}
    request = event["request"]
    assert request["env"] == {"REMOTE_ADDR": MARKER, "SERVER_NAME": "shop"}
    assert request["cookies"] == MARKER
    assert request["data"] == MARKER


def test_with_send_default_pii_personal_data_stays_and_secrets_go() -> None:
    """send_default_pii keeps personal data; secrets (the body's, the cookies) still go."""
    event = ScrubPolicy().event(personal_event(), send_default_pii=True)
    assert event["user"] == personal_event()["user"]
    assert "_meta" not in event
    assert event["request"]["env"]["REMOTE_ADDR"] == "203.0.113.9"
    assert event["request"]["cookies"] == MARKER  # a cookie jar holds sessions: always secret
    assert json.loads(event["request"]["data"]) == {"name": "bob", "password": MARKER}


def test_pii_default_follows_the_running_client(make_handler: MakeHandler) -> None:
    """With no argument, event() asks the running client (send_default_pii off by default)."""
    make_handler()
    logging.getLogger("tests.app").error("starts the client")
    assert ScrubPolicy().event(personal_event())["user"]["email"] == MARKER


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("user=bob&password=pw-1&x=1", f"user=bob&password={MARKER}&x=1"),
        ("user%5Bpassword%5D=pw-1", f"user%5Bpassword%5D={MARKER}"),
        ('[{"token": "t-1"}]', f'[{{"token": "{MARKER}"}}]'),
        ('{"name": "bob"}', '{"name": "bob"}'),
        ("plain text body, Bearer abc123def456", f"plain text body, Bearer {MARKER}"),
    ],
)
def test_request_bodies(body: str, expected: str) -> None:
    """JSON bodies by their keys, form bodies by their fields, anything else by pattern."""
    event = {"request": {"data": body}}
    assert ScrubPolicy().event(event, send_default_pii=True)["request"]["data"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token refreshed", "token refreshed"),
        ("Basic authentication failed", "Basic authentication failed"),
        ("Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", f"Authorization: Basic {MARKER}"),
        ('{"password": "pw-1", "n": 1}', f'{{"password": "{MARKER}", "n": 1}}'),
        ("{'token': 'abc'}", f"{{'token': '{MARKER}'}}"),
        ("refresh_token=abc&x=1", f"refresh_token={MARKER}&x=1"),
        ("sessionid=abc; theme=dark", f"sessionid={MARKER}; theme=dark"),
        ("tokenizer: bert", "tokenizer: bert"),
        ("postgres://app:pw@db:5432/prod", f"postgres://app:{MARKER}@db:5432/prod"),
        ("next=/a&csrf=abc123&x=1", f"next=/a&csrf={MARKER}&x=1"),
        ("Authorization: Token abcdef123", f"Authorization: Token {MARKER}"),
        ("cookie: sessionid=abc; theme=dark", f"cookie: {MARKER}; theme=dark"),
        ("apiKey: xyz", f"apiKey: {MARKER}"),
        ("author: bob", "author: bob"),
    ],
)
def test_more_patterns(text: str, expected: str) -> None:
    """Quoted key-value pairs (JSON, reprs) are found; prose after "Token"/"Basic" is kept."""
    assert ScrubPolicy().text(text) == expected


def test_key_value_text_follows_the_policys_keys() -> None:
    """``key=value`` in text is found for the user's keys, and not for a default turned off."""
    assert ScrubPolicy(keys=["ssn"]).text("ssn=078-05-1120 ok") == f"ssn={MARKER} ok"
    assert ScrubPolicy(defaults_off=["token"]).text("token=abc") == "token=abc"
    assert ScrubPolicy(defaults_off=["key_value"]).text("password=abc") == "password=abc"


@pytest.mark.parametrize("key", ["cookies", "passwords", "api_tokens", "X-CSRF-Token"])
def test_plural_and_header_keys_are_secret(key: str) -> None:
    assert ScrubPolicy().secret_key(key)


@settings(max_examples=300)
@given(st.text())
def test_text_scrubbing_is_idempotent(text: str) -> None:
    """Scrubbing scrubbed text changes nothing (events may pass two scrubbing steps)."""
    policy = ScrubPolicy()
    once = policy.text(text)
    assert policy.text(once) == once


EVENT_PARTS = "extra contexts user tags logentry request message breadcrumbs exception threads"
EVENT_PARTS += " spans"
events = st.fixed_dictionaries({}, optional=dict.fromkeys(EVENT_PARTS.split(), anything))


@settings(max_examples=300)
@given(events, st.booleans())
def test_event_scrubbing_never_raises(event: dict[str, Any], pii: bool) -> None:
    """Any shape of event, however wrong, is scrubbed without an exception."""
    ScrubPolicy().event(event, send_default_pii=pii)


@settings(max_examples=500)
@given(st.text() | st.from_regex(r"[a-zA-Z0-9 :=/@.-]{0,40}", fullmatch=True))
def test_may_change_never_says_no_wrongly(text: str) -> None:
    """The formatter's cheap first look: text() changes nothing it called unchangeable."""
    policy = ScrubPolicy(literals=["5ec4e7d5a1c0ffee"])
    assert policy.may_change(text) or policy.text(text) == text
    assert ScrubPolicy().may_change(text) or ScrubPolicy().text(text) == text


secret_words = st.sampled_from(
    [*sorted(DEFAULT_KEYS), "db_password", "accessToken", "X-Api-Key", "bearer", "Basic", "://"]
)
around = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.from_regex(
    r"[a-zA-Z0-9 _:=/@.-]{0,12}", fullmatch=True
)

GATE_POLICIES = (ScrubPolicy(), ScrubPolicy(keys=["orderSecretCode", "x9"]))


@settings(max_examples=1000)
@given(
    around,
    secret_words,
    st.sampled_from(["=", ": ", '="', " ", "user:pw@host", " abcdef123"]),
    around,
    st.booleans(),
)
def test_may_change_says_yes_to_every_secret_the_patterns_find(
    before: str, word: str, joint: str, after: str, upper: bool
) -> None:
    """Texts built around secret words (any case, any neighbours): the cheap test never misses."""
    text = before + (word.upper() if upper else word) + joint + after
    for policy in GATE_POLICIES:
        assert policy.may_change(text) or policy.text(text) == text


@pytest.mark.parametrize("keys", [[], ["pin", "x", "mfa_code", "a.b+c", "ünïcode"]])
def test_may_change_finds_every_gate_word_of_a_policy(keys: list[str]) -> None:
    """Each key and its parts, alone and inside other text, in either case."""
    policy = ScrubPolicy(keys=keys)
    for key in [*DEFAULT_KEYS, *keys]:
        for part in [key, *key.split("_")]:
            for text in (f"xx {part}=1 yy", f"{part.upper()}: 1", f"my{part}"):
                assert policy.may_change(text) or policy.text(text) == text, text
        if not key.isidentifier() or not key.isascii():
            continue  # such keys are matched by their words: "a.b+c" as a_b_c
        for text in (f"xx {key}=1 yy", f"{key.upper()}: 'v'"):
            assert policy.text(text) != text, text  # a real secret here...
            assert policy.may_change(text), text  # ...which the cheap test sees


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdef123456",
        "auth header was BASIC dXNlcjpwYXNz",
        "connect to postgres://bob:hunter2@db.internal/orders",
        "paid with 4111 1111 1111 1111 today",
        "paid with 4111-1111-1111-1111",
        "retry with PassWord=hunter2",
        '{"refresh_token": "abc"}',
        "Ünïcode first, then token=abc",
    ],
)
def test_may_change_sees_each_default_pattern(text: str) -> None:
    policy = ScrubPolicy()
    assert policy.text(text) != text
    assert policy.may_change(text)


def test_trace_and_span_ids_survive_though_their_digits_pass_for_a_card() -> None:
    """Random hex ids hold a Luhn-valid run of 13+ digits about once in 450: never scrubbed.

    The same digits under any other key, or as a 16-digit id-looking value
    in a message, are still a card number.
    """
    policy = ScrubPolicy()
    trace_id = "4111111111111111abcdefabcdefabcd"
    span_id = "4111111111111111"
    event: dict[str, Any] = {
        "contexts": {
            "trace": {
                "trace_id": trace_id,
                "span_id": span_id,
                "parent_span_id": span_id,
                "dynamic_sampling_context": {"trace_id": trace_id},
            }
        },
        "extra": {"card": span_id, "trace_id": "4111 1111 1111 1111"},
        "message": f"paid with {span_id}",
    }
    scrubbed = policy.event(event, send_default_pii=True)
    trace = scrubbed["contexts"]["trace"]
    assert trace["trace_id"] == trace_id
    assert trace["span_id"] == span_id
    assert trace["parent_span_id"] == span_id
    assert trace["dynamic_sampling_context"]["trace_id"] == trace_id
    assert scrubbed["extra"] == {"card": MARKER, "trace_id": MARKER}
    assert span_id not in scrubbed["message"]
