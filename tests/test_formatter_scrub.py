"""Scrubbing in JSON lines: JsonFormatter and LoguruJsonFormat apply the one policy.

Secrets are planted in labels (nested), declared fields, the message, the
exception message (and so the stack trace); the line must hold none of them,
the marker where each was, and harmless values untouched. The policy is the
formatter's own when given options, else the SentryHandler's/SentrySink's,
else the defaults.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger

from sentry_logging_std import JsonFormatter, LoguruJsonFormat, SentryHandler, SentrySink
from sentry_logging_std import _render as render_module
from sentry_logging_std._schema import RECORD_ATTRIBUTES
from tests.type_checks import DECLARED, PROFILE, Contract, extras, strict_loads

MARKER = "[Filtered]"

#: Each value is unique, so a search of the line for it is exact.
SECRETS = {
    "label": "lbl-Q7m2f-password",
    "deep": "dpt-K3v9w-token",
    "listed": "lst-P8r1z-secret",
    "mapping": "odm-T4k8s-api-key",
    "url": "url-H2j5c-pw",
    "bearer": "brr-G7h2j-bearer",
    "basic": "YmFzaWM6Y3JlZC14cjQ0",
    "card": "4012 8888 8888 1881",
    "declared_keyword": "dkw-M4n6b-keyword",
    "declared_text": "dtx-W1e4u-text",
    "error": "err-V4b6n-exception",
    "cause": "cau-B6v3n-cause",
    "stack_info": "sti-N4m7q-stack",
}
FIELDS = {
    "session": "long",  # a secret key declared as a number
    "api_key": "keyword",  # a secret key declared as a string
    "note": "text",  # a declared string holding a credential
    "order_id": "long",
}
HARMLESS = "order 7 for alice, 3 items"


def planted_extra() -> dict[str, Any]:
    return {
        "password": SECRETS["label"],
        "order": {
            "id": 7,
            "payment": {
                "gateway": {"auth": {"token": SECRETS["deep"]}, "tries": [{"secret": 1}]},
                "attempts": [{"n": 1, "client_secret": SECRETS["listed"]}],
                "extras": OrderedDict(api_key=SECRETS["mapping"]),
            },
        },
        "upstream": f"https://svc:{SECRETS['url']}@pay.example.org/v1",
        "session": 123456,
        "api_key": SECRETS["declared_keyword"],
        "note": f"sent with Authorization: Basic {SECRETS['basic']}",
        "order_id": 7,
        "harmless": HARMLESS,
        "count": 3,
        "ratio": 0.25,
    }


MESSAGE = f"login via Bearer {SECRETS['bearer']} with card {SECRETS['card']}"


def _inner() -> None:
    raise KeyError(f"password={SECRETS['cause']}")


def _fail() -> None:
    try:
        _inner()
    except KeyError as exc:
        raise ValueError(f"upstream refused: api_key={SECRETS['error']}") from exc


def assert_scrubbed(line: str, document: dict[str, Any]) -> None:
    """No planted secret anywhere; the marker where each one was; the rest as it was."""
    leaked = [name for name, value in SECRETS.items() if value in line]
    assert leaked == []
    assert "4012888888881881" not in line
    labels = document["labels"]
    assert labels["password"] == MARKER
    order = json.loads(labels["order"])
    assert order["id"] == 7
    assert order["payment"]["gateway"]["auth"] == MARKER
    assert order["payment"]["gateway"]["tries"] == [{"secret": MARKER}]
    assert order["payment"]["attempts"] == [{"n": 1, "client_secret": MARKER}]
    assert order["payment"]["extras"] == {"api_key": MARKER}
    assert labels["upstream"] == f"https://svc:{MARKER}@pay.example.org/v1"
    assert labels["harmless"] == HARMLESS
    assert labels["count"] == "3"
    assert labels["ratio"] == "0.25"
    # A declared long under a secret key: absent, the marker in its (string) companion.
    assert "session" not in document
    assert document["session_raw"] == MARKER
    assert document["api_key"] == MARKER
    assert document["note"] == f"sent with Authorization: Basic {MARKER}"
    assert document["order_id"] == 7
    assert document["message"] == f"login via Bearer {MARKER} with card {MARKER}"
    error = document["error"]
    assert error["type"] == "ValueError"
    assert error["message"] == f"upstream refused: api_key={MARKER}"
    assert f"ValueError: upstream refused: api_key={MARKER}" in error["stack_trace"]
    assert f"KeyError: 'password={MARKER}'" in error["stack_trace"]
    assert "in _inner" in error["stack_trace"]


@pytest.fixture
def stream_logger() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("tests.formatter_scrub")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, stream, handler
    log.removeHandler(handler)
    log.propagate = True


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [strict_loads(line) for line in stream.getvalue().splitlines()]


def test_json_formatter_scrubs_labels_fields_message_and_error(
    stream_logger: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    log, stream, handler = stream_logger
    handler.setFormatter(JsonFormatter(service_name="orders", fields=FIELDS))
    try:
        _fail()
    except ValueError:
        log.exception(
            "login via Bearer %s with card %s",
            SECRETS["bearer"],
            SECRETS["card"],
            extra=planted_extra(),
        )
    (document,) = lines_of(stream)
    assert_scrubbed(stream.getvalue(), document)


def test_loguru_json_format_scrubs_the_same_places() -> None:
    lines: list[str] = []
    logger.remove()
    logger.add(lines.append, format=LoguruJsonFormat(fields=FIELDS), level="DEBUG")
    try:
        try:
            _fail()
        except ValueError:
            logger.bind(**planted_extra()).opt(exception=True).error(
                "login via Bearer {} with card {}", SECRETS["bearer"], SECRETS["card"]
            )
    finally:
        logger.remove()
    (line,) = lines
    assert_scrubbed(line, strict_loads(line))


def test_the_same_record_through_two_formatters_is_scrubbed_in_both(
    stream_logger: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    """A second handler reuses the rendered trace; each formatter's policy still applies."""
    log, stream, handler = stream_logger
    handler.setFormatter(JsonFormatter(fields=FIELDS))
    other_stream = io.StringIO()
    other = logging.StreamHandler(other_stream)
    other.setFormatter(JsonFormatter(fields=FIELDS, scrub=False))
    log.addHandler(other)
    try:
        try:
            _fail()
        except ValueError:
            log.exception(MESSAGE, extra=planted_extra())
    finally:
        log.removeHandler(other)
    (document,) = lines_of(stream)
    assert_scrubbed(stream.getvalue(), document)
    # scrub=False writes what it was given: the check above can fail.
    (raw,) = lines_of(other_stream)
    assert raw["labels"]["password"] == SECRETS["label"]
    assert SECRETS["error"] in raw["error"]["stack_trace"]
    assert raw["session"] == 123456


def test_harmless_values_are_untouched() -> None:
    formatter = JsonFormatter()
    extra = {
        "customer": "acme",
        "path": "/api/orders/12",
        "big": 2**33,
        "amount": 12.5,
        "flag": True,
        "nothing": None,
        "items": [1, "two", {"three": 3.5}],
        "passage": "a passage about tokens",
    }
    made = logging.LogRecord("app", logging.INFO, __file__, 1, "order %d of %s", (12, "acme"), None)
    made.__dict__.update(extra)
    document = strict_loads(formatter.format(made))
    assert document["message"] == "order 12 of acme"
    assert document["labels"] == {
        "customer": "acme",
        "path": "/api/orders/12",
        "big": str(2**33),
        "amount": "12.5",
        "flag": "true",
        "nothing": "null",
        "items": '[1,"two",{"three":3.5}]',
        "passage": "a passage about tokens",
    }


def _log_with_stack(log: logging.Logger) -> None:
    log.warning("with stack", stack_info=True)  # token=sti-N4m7q-stack


def test_stack_info_is_scrubbed(
    stream_logger: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    log, stream, handler = stream_logger
    handler.setFormatter(JsonFormatter())
    _log_with_stack(log)
    (document,) = lines_of(stream)
    assert SECRETS["stack_info"] not in stream.getvalue()
    assert f"# token={MARKER}" in document["error"]["stack_trace"]


def test_long_numbers_that_are_card_numbers_become_the_marker() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "m", (), None)
    record.__dict__.update(
        {"card": 4012888888881881, "nested": {"card": 4012888888881881}, "other": 4012888888881882}
    )
    labels = strict_loads(formatter.format(record))["labels"]
    assert labels["card"] == MARKER
    assert json.loads(labels["nested"]) == {"card": MARKER}
    assert labels["other"] == "4012888888881882"  # not Luhn-valid: not a card


# --- which policy ------------------------------------------------------------------------


def _format(formatter: logging.Formatter, message: str, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return strict_loads(formatter.format(record))  # type: ignore[no-any-return]


def test_own_options_add_keys_and_patterns_and_turn_defaults_off() -> None:
    formatter = JsonFormatter(
        scrub_keys=["ssn"], scrub_patterns=[r"ORDER-\d{6}"], scrub_defaults_off=["session"]
    )
    document = _format(formatter, "ref ORDER-123456", ssn="078-05-1120", session="visible")
    assert document["message"] == f"ref {MARKER}"
    assert document["labels"] == {"ssn": MARKER, "session": "visible"}
    # The same options as one fmt string (fileConfig, dictConfig "class").
    from_fmt = JsonFormatter("scrub_keys=ssn,pin")
    assert _format(from_fmt, "m", pin="1234")["labels"] == {"pin": MARKER}


def test_a_formatter_without_options_follows_the_handler_built_after_it() -> None:
    """dictConfig builds formatters first: the policy is looked up when lines are written."""
    formatter = JsonFormatter()
    assert _format(formatter, "m", ssn="078-05-1120")["labels"] == {"ssn": "078-05-1120"}
    handler = SentryHandler(scrub_keys=["ssn"])
    try:
        assert _format(formatter, "m", ssn="078-05-1120")["labels"] == {"ssn": MARKER}
        own = JsonFormatter(scrub_keys=["pin"])
        assert _format(own, "m", ssn="1", pin="2")["labels"] == {"ssn": "1", "pin": MARKER}
    finally:
        handler.close()


def test_labels_written_before_a_policy_change_are_scrubbed_after_it() -> None:
    """Labels the formatter remembers (strings, ints, floats) were the old policy's."""
    formatter = JsonFormatter()
    extra = {"code": "ORD-7781", "n": 7781, "x": 7781.5}
    before = _format(formatter, "m", **extra)["labels"]
    assert before == {"code": "ORD-7781", "n": "7781", "x": "7781.5"}
    handler = SentryHandler(scrub_patterns=[r"7781"])
    try:
        after = _format(formatter, "m", **extra)["labels"]
        assert after == _format(JsonFormatter(scrub_patterns=[r"7781"]), "m", **extra)["labels"]
        assert "7781" not in json.dumps(after)
        assert MARKER in after["code"]
    finally:
        handler.close()


def test_dict_config_formatter_follows_the_sentry_handler() -> None:
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "sentry_logging_std.JsonFormatter"}},
            "handlers": {
                "out": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream},
                "sentry": {"()": "sentry_logging_std.SentryHandler", "scrub_keys": ["ssn"]},
            },
            "loggers": {"tests.dictconfig_scrub": {"handlers": ["out", "sentry"], "level": "INFO"}},
        }
    )
    log = logging.getLogger("tests.dictconfig_scrub")
    try:
        log.info("m", extra={"ssn": "078-05-1120"})
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
    (document,) = lines_of(stream)
    assert document["labels"] == {"ssn": MARKER}


def test_loguru_format_follows_the_sentry_sink() -> None:
    lines: list[str] = []
    fmt = LoguruJsonFormat()
    sink = SentrySink(scrub_keys=["ssn"])
    logger.remove()
    logger.add(lines.append, format=fmt, level="INFO")
    try:
        logger.bind(ssn="078-05-1120").info("m")
    finally:
        logger.remove()
        del sink
    assert strict_loads(lines[0])["labels"] == {"ssn": MARKER}


@pytest.mark.parametrize("factory", [JsonFormatter, LoguruJsonFormat])
@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"scrub_keys": 5}, TypeError, "scrub_keys"),
        ({"scrub_keys": [5]}, TypeError, "scrub_keys"),
        ({"scrub_patterns": ["("]}, ValueError, "scrub_patterns"),
        ({"scrub_patterns": b"x"}, TypeError, "scrub_patterns"),
        ({"scrub_defaults_off": ["no_such_default"]}, ValueError, "scrub_defaults_off"),
        ({"scrub": "yes"}, TypeError, "scrub"),
    ],
)
def test_bad_scrub_options_name_the_option(
    factory: Any, options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        factory(**options)


# --- property ----------------------------------------------------------------------------

#: Scrubbing by key hits declared fields of every type, and labels.
SCRUBBING = JsonFormatter(
    fields=DECLARED,
    max_length=200,
    scrub_keys=["order_id", "amount", "paid", "when", "client_ip", "customer", "x"],
)
CONTRACT = Contract(SCRUBBING.schema)
secretish = st.sampled_from(
    [
        "Bearer abcdef123456",
        "postgres://u:pw123@db/x",
        "password=hunter2",
        "4012 8888 8888 1881",
        4012888888881881,
        "token: abc",
    ]
)


@PROFILE
@given(
    extra=extras,
    planted=st.dictionaries(st.sampled_from(["x", "password", "note", "deep"]), secretish),
    message=st.one_of(st.text(), secretish),
)
def test_scrubbing_never_raises_and_keeps_one_type_per_path(
    extra: dict[str, Any], planted: dict[str, Any], message: Any
) -> None:
    values = {**extra, **planted, "nested": {"a": [planted, extra]}}
    values = {k: v for k, v in values.items() if k not in RECORD_ATTRIBUTES}
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, message, (), None)
    record.__dict__.update(values)
    line = SCRUBBING.format(record)
    document = CONTRACT.check(line)
    assert render_module._dumps(document) == line
    for secret in ("abcdef123456", "pw123", "hunter2", "4012 8888 8888 1881", "4012888888881881"):
        assert secret not in line
