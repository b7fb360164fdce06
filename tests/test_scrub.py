"""Secrets never leave the process: the scrubbing policy on Sentry events."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_logging_std import SentryHandler
from sentry_logging_std._scrub import MARKER, ScrubPolicy

from .conftest import TEST_DSN, CapturingTransport, MakeHandler

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
    assert event["logentry"]["formatted"] == f"ref {MARKER}"


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
        ("password=abc&user=bob", f"password={MARKER}&user=bob"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_patterns(text: str, expected: str) -> None:
    """The default patterns find credentials, URL passwords and Luhn-valid card numbers."""
    assert ScrubPolicy().text(text) == expected


harmless_keys = st.text(min_size=1, max_size=12).filter(lambda k: not ScrubPolicy().secret_key(k))
harmless_text = st.from_regex(r"[a-z ]{0,30}", fullmatch=True)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | harmless_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(harmless_keys, inner, max_size=4),
    max_leaves=20,
)
anything = st.recursive(
    st.none() | st.integers() | st.text() | st.binary() | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
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
