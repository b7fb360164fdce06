"""A corpus of secrets planted in every place a log line or a Sentry event can carry one.

Every value in :data:`SECRETS` is distinct and greppable, so a test can assert
that none of them appears anywhere in what left the process (captured
envelopes, events stored by Bugsink, JSON lines) and that the marker is where
each one was. The functions here plant them: in extras (nested at depth 3 and
more), the scope (context, tags, user, breadcrumbs), the message and its
arguments, the exception message and the local variables of the frames that
raised, the request (headers, cookies, query string, JSON and form bodies),
and the DSN's own key.

This module imports only the standard library, sentry-sdk and the package, so
a server started by a test (uvicorn ``--app-dir tests secret_corpus:asgi_app``)
can serve :data:`asgi_app` from it.

Never hold a secret in a local variable of a function that logs or catches:
the frames of the stack are sent with their variables, and only the names
this module plants there on purpose (``failing_login``) may carry one.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional

import sentry_sdk

#: Name -> planted value. Values are unique; each one is found only where planted.
SECRETS: Mapping[str, str] = {
    # extras, nested
    "extra_password": "xpw-Q7m2f-extra-password",
    "extra_deep_token": "dtk-K3v9w-deep-token",
    "extra_list_secret": "lst-P8r1z-list-secret",
    "extra_api_key": "aki-M4n6b-extra-api-key",
    "extra_url_password": "eup-H2j5c-extra-url",
    # the scope
    "context_secret": "ctx-R5t8y-context-secret",
    "context_url_password": "cup-W1e4u-context-url",
    "tag_session": "tgs-B6v3n-tag-session",
    "tag_url_password": "tup-L9k2j-tag-url",
    "user_token": "usr-F3d7s-user-token",
    "crumb_record_token": "crt-Y8u1i-crumb-record",
    "crumb_data_secret": "cds-N4m7q-crumb-data",
    # frame variables
    "local_password": "lpw-T2g5h-local-password",
    "local_dict_token": "ldt-C6x9v-local-dict",
    "local_bearer": "lbr-J3k8l-local-bearer",
    "local_url_password": "lup-S5d1f-local-url",
    # the message, its arguments and the exception
    "message_bearer": "mbr-G7h2j-message-bearer",
    "param_password": "ppw-W3e6r-param-password",
    "exception_api_key": "exk-V4b6n-exception-key",
    # source lines of the frames (pre_context, context_line, post_context, error.stack_trace):
    # written as literals in the code of connect(), failing_login() and log_everything()
    "source_token": "sct-K2m9x-source-token",
    "source_basic": "c3JjLWJhc2ljOkg3ajJrLXB3",
    "source_extra_password": "sxp-B8v4c-source-extra",
    # a positional literal in a source line, hidden because the same value is scrubbed
    # elsewhere: the exception's message (verify_password), the message (call_api_key)
    "verify_password": "vpw-P5n8b-verify-password",
    "call_api_key": "cak-F6g1h-call-api-key",
    # the request
    "header_bearer": "hbr-Z9x3c-header-bearer",
    "header_basic": "aGJzOmhlYWRlci1iYXNpYy1xNXc4",
    "header_cookie": "hck-E1r4t-header-cookie",
    "header_set_cookie": "hsc-U7i2o-header-set-cookie",
    "header_api_key": "hak-D8f5g-header-api-key",
    "query_token": "qtk-A3s6d-query-token",
    "query_password": "qpw-X5c8v-query-password",
    "query_csrf": "qcs-K7j4h-query-csrf",
    "body_json_password": "bjp-O2p9a-body-json-password",
    "body_form_password": "bfp-I6u3y-body-form-password",
}

#: Luhn-valid card numbers, planted as a message argument and in an extra's text.
CARDS: Mapping[str, str] = {
    "message_card": "4012 8888 8888 1881",
    "extra_card": "5555-5555-5555-4444",
}

#: Not a secret but personal data: must not be sent unless send_default_pii is on.
EMAIL = "corpus.alice@example.org"

#: The public key of the DSN the corpus tests send with (a real DSN's shape: 32 hex digits).
DSN_KEY = "5ec4e7d5a1c0ffee0d5a5ec4e7c0ffee"
DSN = f"http://{DSN_KEY}@127.0.0.1:9/42"

MARKER = "[Filtered]"

#: The logger the corpus logs on.
LOGGER = "corpus.app"


def forms(value: str) -> list[str]:
    """The forms in which a planted value could leak (cards also without separators)."""
    found = [value]
    digits = re.sub(r"[ -]", "", value)
    if digits != value and digits.isdigit():
        found.append(digits)
    return found


def every_secret(dsn_key: str = DSN_KEY) -> dict[str, str]:
    """Name -> value of everything that must never be sent (the DSN key included)."""
    return {**SECRETS, **CARDS, "dsn_key": dsn_key}


def leaks(text: str, dsn_key: str = DSN_KEY, pii: bool = False) -> list[str]:
    """Names of the planted secrets (and of the e-mail, without *pii*) found in *text*."""
    found = [
        name
        for name, value in every_secret(dsn_key).items()
        if any(form in text for form in forms(value))
    ]
    if not pii and EMAIL in text:
        found.append("email")
    return found


# --- what a log call carries ------------------------------------------------------------------


def extras(depth_note: str = "") -> dict[str, Any]:
    """``extra=`` of the error record: secrets at depth 1, 3, 4 and inside lists."""
    return {
        "password": SECRETS["extra_password"],
        "order": {
            "id": 7,
            "payment": {
                "gateway": {
                    "credentials": {"token": SECRETS["extra_deep_token"]},
                    "attempts": [{"n": 1, "secret": SECRETS["extra_list_secret"]}],
                },
                "note": f"paid with {CARDS['extra_card']}{depth_note}",
            },
        },
        "client": {"settings": [{"api_key": SECRETS["extra_api_key"]}]},
        "upstream": f"https://svc:{SECRETS['extra_url_password']}@pay.example.org/v1",
        "harmless": "order 7 for alice",
    }


def crumb_extras() -> dict[str, Any]:
    """``extra=`` of the INFO record that becomes a breadcrumb."""
    return {"access_token": SECRETS["crumb_record_token"], "step": "cart"}


#: The error message: a credential inside the template, a card number and a password as
#: its arguments (the second under a secret key: the parameter must hide it too).
TEMPLATE = (
    f"sign-in failed, Authorization: Bearer {SECRETS['message_bearer']}, card %s, password=%s"
)
LOGURU_TEMPLATE = (
    f"sign-in failed, Authorization: Bearer {SECRETS['message_bearer']}, card {{}}, password={{}}"
)
ARGS = (CARDS["message_card"], SECRETS["param_password"])


class LoginFailed(Exception):
    pass


def failing_login(user: str) -> None:
    """Raise (two calls down) with secrets in the message, the frames' variables and code."""
    password = SECRETS["local_password"]
    settings = {"service": "billing", "token": SECRETS["local_dict_token"]}
    header = f"Authorization: Bearer {SECRETS['local_bearer']}"
    remote = f"https://deploy:{SECRETS['local_url_password']}@git.example.org/repo.git"
    if password and settings and header and remote:
        connect(user, secret_token="sct-K2m9x-source-token")


# The literals below are the corpus's source-line secrets (see SECRETS): code as
# applications write it, each in the source context of a frame that raises.


def connect(user: str, secret_token: str) -> None:
    headers = {"Accept": "application/json", "X-Token-Length": str(len(secret_token))}
    headers["Authorization"] = "Basic c3JjLWJhc2ljOkg3ajJrLXB3"
    verify(user, "vpw-P5n8b-verify-password", headers)


def verify(user: str, secret: str, headers: dict[str, str]) -> None:
    raise LoginFailed(
        f"upstream refused {user}: api_key={SECRETS['exception_api_key']}, password={secret}"
    )


def plant_scope() -> None:
    """Context, tags, user and a breadcrumb with data, on the current scopes."""
    sentry_sdk.set_context(
        "database",
        {
            "engine": "postgres",
            "connection": {
                "options": {"secret": SECRETS["context_secret"]},
                "dsn": f"postgres://app:{SECRETS['context_url_password']}@db:5432/prod",
            },
        },
    )
    sentry_sdk.set_tag("session_id", SECRETS["tag_session"])
    sentry_sdk.set_tag("upstream", f"https://svc:{SECRETS['tag_url_password']}@api.example.org")
    sentry_sdk.set_user({"id": "u-7", "email": EMAIL, "api_token": SECRETS["user_token"]})
    sentry_sdk.add_breadcrumb(
        category="auth",
        message="token refreshed",
        data={"refresh_token": SECRETS["crumb_data_secret"], "attempt": 2},
    )


def dsn_key_record(log: logging.Logger, dsn_key: str = DSN_KEY) -> None:
    """An error whose message carries the DSN's own key."""
    log.error("misconfigured client, key %s in use", dsn_key)


def log_everything(log: logging.Logger, plain_error: bool = True) -> None:
    """Through stdlib logging: a breadcrumb record, the error with every secret, a plain error.

    Without *plain_error* the plain error is left out (call :func:`refused_charge`).
    """
    log.info("cart loaded", extra=crumb_extras())
    plant_scope()
    try:
        failing_login("alice")
    except LoginFailed:
        log.exception(TEMPLATE, *ARGS, extra={**extras(), "db_password": "sxp-B8v4c-source-extra"})
    if plain_error:
        refused_charge(log)


def refused_charge(log: logging.Logger) -> None:
    """A plain error (no exception): the caller's stack goes with it, this line included."""
    log.error("charge refused, api_key=%s", "cak-F6g1h-call-api-key", stack_info=True)


def loguru_everything(plain_error: bool = True) -> None:
    """The same through loguru: ``bind`` carries the extras."""
    from loguru import logger

    logger.bind(**crumb_extras()).info("cart loaded")
    plant_scope()
    try:
        failing_login("alice")
    except LoginFailed:
        logger.bind(**extras(), db_password="sxp-B8v4c-source-extra").exception(
            LOGURU_TEMPLATE, *ARGS
        )
    if plain_error:
        loguru_refused_charge()


def loguru_refused_charge() -> None:
    """:func:`refused_charge` through loguru (far from the lines above: no frame shows both)."""
    from loguru import logger

    logger.error("charge refused, api_key={}", "cak-F6g1h-call-api-key")


def capture_everything() -> Optional[str]:
    """Through ``capture_error``: the scope, the raising frames, a context and tags with secrets."""
    from sentry_logging_std import capture_error

    plant_scope()
    try:
        failing_login("alice")
    except LoginFailed as exc:
        return capture_error(
            exc,
            tags={"upstream": f"https://svc:{SECRETS['tag_url_password']}@api.example.org"},
            context={"payment": extras()},
        )
    return None


# --- what a request carries -------------------------------------------------------------------


def request_headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {SECRETS['header_bearer']}",
        "Proxy-Authorization": f"Basic {SECRETS['header_basic']}",
        "Cookie": f"sessionid={SECRETS['header_cookie']}; theme=dark",
        "Set-Cookie": f"csrftoken={SECRETS['header_set_cookie']}; Path=/",
        "X-Api-Key": SECRETS["header_api_key"],
        "X-Request-Id": "req-42",
    }


QUERY = (
    f"token={SECRETS['query_token']}&password={SECRETS['query_password']}"
    f"&csrf={SECRETS['query_csrf']}&page=2"
)
JSON_BODY = json.dumps(
    {"user": "alice", "password": SECRETS["body_json_password"], "remember": True}
).encode()
FORM_BODY = f"user=alice&password={SECRETS['body_form_password']}&remember=1".encode()


def handle_request() -> None:
    """What the web apps do inside a request: scope data, a breadcrumb record, then a crash."""
    logging.getLogger(LOGGER).info("request body read", extra=crumb_extras())
    plant_scope()
    failing_login("alice")


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app that reads the body and crashes with every secret in reach."""
    environ["wsgi.input"].read()
    handle_request()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]


async def _asgi_inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    handle_request()


def _build_asgi_app() -> Any:
    """The ASGI app a server serves: options from the environment (SENTRY_DSN, CORPUS_PII)."""
    from sentry_logging_std import AsgiMiddleware, SentryHandler

    pii = os.environ.get("CORPUS_PII") == "1"
    handler = SentryHandler(send_default_pii=pii)
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return AsgiMiddleware(_asgi_inner, send_default_pii=pii)


def __getattr__(name: str) -> Any:
    # Built on first access, so importing the corpus in a test starts nothing.
    if name == "asgi_app":
        app = _build_asgi_app()
        globals()["asgi_app"] = app
        return app
    raise AttributeError(name)


# --- reading what was sent --------------------------------------------------------------------


def walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, leaf) of a JSON-like value."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))
    else:
        yield path, value


def get(value: Any, *path: Any) -> Any:
    """``value[p0][p1]...``, or None where the path does not exist."""
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def has_marker(value: Any) -> bool:
    """Whether the marker is *value*, or inside it (text or any leaf)."""
    if isinstance(value, str):
        return MARKER in value
    return any(isinstance(leaf, str) and MARKER in leaf for _, leaf in walk(value))


def frame_vars(event: Mapping[str, Any], function: str) -> Optional[dict[str, Any]]:
    """The variables of the innermost frame of *function* in the event's exception."""
    for value in reversed(get(event, "exception", "values") or []):
        for frame in reversed(get(value, "stacktrace", "frames") or []):
            if frame.get("function") == function and isinstance(frame.get("vars"), dict):
                return dict(frame["vars"])
    return None


def frame_source(event: Mapping[str, Any], function: str) -> str:
    """The source lines an event carries for the frames of *function* (exception or stack)."""
    lines: list[str] = []
    for container in ("exception", "threads"):
        for value in get(event, container, "values") or []:
            for frame in get(value, "stacktrace", "frames") or []:
                if frame.get("function") == function:
                    lines += frame.get("pre_context") or []
                    lines.append(frame.get("context_line") or "")
                    lines += frame.get("post_context") or []
    return "\n".join(lines)


def source_markers(event: Mapping[str, Any]) -> dict[str, str]:
    """Where each source-line secret was in an event: the lines of the frames holding it."""
    return {
        "source_token": frame_source(event, "failing_login"),
        "source_basic": frame_source(event, "connect"),
        "verify_password": frame_source(event, "connect"),
    }


def crumbs(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(get(event, "breadcrumbs", "values") or [])


def scope_markers(event: Mapping[str, Any]) -> dict[str, Any]:
    """Where each scope-planted secret was, in an event: name -> value found there."""
    crumb_data = [c.get("data") for c in crumbs(event) if c.get("category") == "auth"]
    return {
        "context_secret": get(event, "contexts", "database", "connection", "options", "secret"),
        "context_url_password": get(event, "contexts", "database", "connection", "dsn"),
        "tag_session": get(event, "tags", "session_id"),
        "tag_url_password": get(event, "tags", "upstream"),
        "user_token": get(event, "user", "api_token"),
        "crumb_data_secret": get(crumb_data, 0, "refresh_token"),
    }


def exception_markers(event: Mapping[str, Any]) -> dict[str, Any]:
    """Where each secret of the raising frame was: its variables and the exception message."""
    variables = frame_vars(event, "failing_login") or {}
    return {
        "local_password": variables.get("password"),
        "local_dict_token": get(variables, "settings", "token") or variables.get("settings"),
        "local_bearer": variables.get("header"),
        "local_url_password": variables.get("remote"),
        "exception_api_key": get(event, "exception", "values", -1, "value"),
    }
