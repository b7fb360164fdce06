"""LoguruJsonFormat: loguru records as JsonFormatter's lines, from the same renderer."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import sentry_sdk
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger

from sentry_logging_std import JsonFormatter, LoguruJsonFormat, SentrySink
from sentry_logging_std import _render as render_module
from tests.conftest import TEST_DSN, CapturingTransport
from tests.type_checks import DECLARED, PROFILE, Contract, extras, strict_loads

ROOT = Path(__file__).resolve().parent.parent
HERE = os.path.basename(__file__)

AddJson = Callable[..., list[str]]


@pytest.fixture
def add_json() -> Iterator[AddJson]:
    """Add a loguru sink collecting lines written with LoguruJsonFormat; removed afterwards."""
    added: list[int] = []

    def add(fmt: Any = None, **options: Any) -> list[str]:
        lines: list[str] = []
        options.setdefault("level", "TRACE")
        added.append(logger.add(lines.append, format=fmt or LoguruJsonFormat(), **options))
        return lines

    yield add
    for handler_id in added:
        logger.remove(handler_id)


def documents(lines: list[str]) -> list[dict[str, Any]]:
    for line in lines:
        assert line.endswith("\n")
        assert line.count("\n") == 1
    return [strict_loads(line) for line in lines]


def fail(order_id: int) -> None:
    try:
        raise KeyError(order_id)
    except KeyError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc


def test_fields_of_a_plain_record(add_json: AddJson) -> None:
    """Every fixed field comes from the loguru record, named and typed as JsonFormatter's."""
    lines = add_json(
        LoguruJsonFormat(
            service_name="orders",
            service_environment="production",
            service_version="2.4.1",
            hostname="orders-7f9c",
        )
    )
    before = dt.datetime.now(dt.timezone.utc)
    logger.info("order {} placed", "A-17")
    (document,) = documents(lines)
    line_number = sys._getframe().f_lineno - 2
    stamp = dt.datetime.strptime(document.pop("@timestamp"), "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(stamp.replace(tzinfo=dt.timezone.utc) - before) < dt.timedelta(minutes=1)
    assert document == {
        "log": {
            "level": "info",
            "logger": __name__,
            "origin": {
                "file": {"name": HERE, "line": line_number},
                "function": "test_fields_of_a_plain_record",
            },
        },
        "message": "order A-17 placed",
        "process": {"pid": os.getpid(), "thread": {"name": threading.current_thread().name}},
        "service": {"name": "orders", "environment": "production", "version": "2.4.1"},
        "host": {"hostname": "orders-7f9c"},
        "ecs": {"version": "9.4.0"},
    }


def test_same_document_as_json_formatter() -> None:
    """A loguru record and a stdlib record with the same data give the same document."""
    fmt = LoguruJsonFormat(service_name="orders", fields={"order_id": "long"})
    stdlib = JsonFormatter(service_name="orders", fields={"order_id": "long"})
    seen: list[Any] = []
    handler_id = logger.add(lambda message: seen.append(message.record), format="{message}")
    try:
        logger.bind(order_id="17", region="eu").warning("careful")
    finally:
        logger.remove(handler_id)
    (record,) = seen
    stdlib_record = logging.makeLogRecord(
        {
            "name": record["name"],
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "filename": record["file"].name,
            "lineno": record["line"],
            "funcName": record["function"],
            "created": record["time"].timestamp(),
            "process": record["process"].id,
            "threadName": record["thread"].name,
            "msg": "careful",
            "order_id": "17",
            "region": "eu",
        }
    )
    ours = strict_loads(fmt(record).replace("{{", "{").replace("}}", "}"))
    assert ours == strict_loads(stdlib.format(stdlib_record))
    assert ours["order_id"] == 17
    assert ours["labels"] == {"region": "eu"}


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("TRACE", "trace"),
        ("DEBUG", "debug"),
        ("INFO", "info"),
        ("SUCCESS", "success"),
        ("WARNING", "warning"),
        ("ERROR", "error"),
        ("CRITICAL", "critical"),
    ],
)
def test_levels_are_lower_cased_names(add_json: AddJson, level: str, expected: str) -> None:
    """log.level is loguru's level name, lower-cased."""
    lines = add_json()
    logger.log(level, "x")
    (document,) = documents(lines)
    assert document["log"]["level"] == expected


def test_custom_level(add_json: AddJson) -> None:
    """A custom level's name is log.level too."""
    try:
        logger.level("NOTICE")
    except ValueError:
        logger.level("NOTICE", no=27)
    lines = add_json()
    logger.log("NOTICE", "custom")
    (document,) = documents(lines)
    assert document["log"]["level"] == "notice"


def test_exception_chain(add_json: AddJson) -> None:
    """logger.exception writes error.type, error.message and the whole chain."""
    lines = add_json()
    try:
        fail(7)
    except RuntimeError:
        logger.exception("order failed")
    (document,) = documents(lines)
    error = document["error"]
    assert error["type"] == "RuntimeError"
    assert error["message"] == "order 7 failed"
    stack = error["stack_trace"]
    assert stack.startswith("Traceback (most recent call last):")
    assert "KeyError: 7" in stack
    assert "The above exception was the direct cause of the following exception" in stack
    assert stack.endswith("RuntimeError: order 7 failed")


def test_opt_exception(add_json: AddJson) -> None:
    """opt(exception=...) with an exception instance gives the same error fields."""
    lines = add_json()
    try:
        fail(8)
    except RuntimeError as exc:
        caught = exc
    logger.opt(exception=caught).error("later")
    (document,) = documents(lines)
    assert document["error"]["type"] == "RuntimeError"
    assert "KeyError: 8" in document["error"]["stack_trace"]


def test_no_exception_means_no_error(add_json: AddJson) -> None:
    """opt(exception=True) outside an except block (value None) writes no error object."""
    lines = add_json()
    logger.opt(exception=True).error("nothing raised")
    (document,) = documents(lines)
    assert "error" not in document


def test_bind_and_contextualize(add_json: AddJson) -> None:
    """bind() and contextualize() values are labels, or declared fields with their type."""
    lines = add_json(LoguruJsonFormat(fields="order_id:long,amount:double"))
    with logger.contextualize(request_id="r-1"):
        logger.bind(order_id="7", amount="lots", nested={"a": [1, None]}).info("x")
    (document,) = documents(lines)
    assert document["order_id"] == 7
    assert document["amount_raw"] == "lots"
    assert document["labels"] == {"request_id": "r-1", "nested": '{"a":[1,null]}'}


def test_defaults(add_json: AddJson) -> None:
    """defaults fill extra keys a record does not carry, never replace one it does."""
    lines = add_json(LoguruJsonFormat(defaults={"region": "eu", "team": "core"}))
    logger.bind(team="payments").info("x")
    (document,) = documents(lines)
    assert document["labels"] == {"team": "payments", "region": "eu"}


@pytest.mark.parametrize(
    "text", ["{", "}", "{}", "{0}", "{message}", "<red>x</red>", "</>", "\\<b>", "a\\", "{{<"]
)
def test_braces_and_markup_arrive_unchanged(add_json: AddJson, text: str) -> None:
    """loguru's template and colour-markup processing leave every message and value intact."""
    lines = add_json()
    colored = add_json(colorize=True)
    logger.bind(**{text: text}).opt(raw=False).info("{}", text)
    for document in documents(lines) + documents(colored):
        assert document["message"] == text
        assert document["labels"] == {text.replace(".", "_"): text}
    assert "\x1b" not in colored[0]


def test_options_are_validated_like_json_formatters() -> None:
    """A bad option raises the error JsonFormatter raises for it, naming it."""
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"service_name": 5}, TypeError),
        ({"max_length": 10}, ValueError),
        ({"max_length": True}, TypeError),
        ({"fields": {"order_id": "bigint"}}, ValueError),
        ({"fields": {"log.level": "keyword"}}, ValueError),
        ({"defaults": ["a"]}, TypeError),
        ({"defaults": {5: "a"}}, ValueError),
    ]
    for options, error in cases:
        with pytest.raises(error) as loguru_error:
            LoguruJsonFormat(**options)
        with pytest.raises(error) as stdlib_error:
            JsonFormatter(**options)
        # The same check and message (what a default's name may not be differs).
        assert str(loguru_error.value).split(" (")[0] == str(stdlib_error.value).split(" (")[0]
        assert next(iter(options)) in str(loguru_error.value)


def test_a_broken_record_still_gives_a_line() -> None:
    """format never raises: a record missing its parts gives the minimal line."""
    fmt = LoguruJsonFormat()
    template = fmt({"message": "m", "level": None})
    document = strict_loads(template.replace("{{", "{").replace("}}", "}"))
    assert document["message"] == "m"
    assert "formatter_error" in document["labels"]


def test_the_record_is_not_changed(add_json: AddJson) -> None:
    """Formatting leaves the record as the next sink sees it."""
    seen: list[dict[str, Any]] = []
    add_json()
    handler_id = logger.add(lambda message: seen.append(dict(message.record)), format="{message}")
    try:
        logger.bind(a={"b": 1}).error("x")
    finally:
        logger.remove(handler_id)
    (record,) = seen
    assert record["extra"] == {"a": {"b": 1}}
    assert record["message"] == "x"


def test_trace_ids_from_the_active_span(add_json: AddJson) -> None:
    """trace.id, span.id and transaction.id come from the span active at the log call."""
    lines = add_json()
    transaction = sentry_sdk.start_transaction(name="checkout")
    with transaction, sentry_sdk.start_span(op="db") as span:
        logger.info("in a span")
    logger.info("outside")
    inside, outside = documents(lines)
    assert inside["trace"] == {"id": transaction.trace_id}
    assert inside["span"] == {"id": span.span_id}
    assert inside["transaction"] == {"id": transaction.span_id}
    assert "trace" not in outside


def test_enqueue(add_json: AddJson) -> None:
    """With enqueue=True the line is written by loguru's thread, with the call's trace ids."""
    lines = add_json(enqueue=True)
    transaction = sentry_sdk.start_transaction(name="checkout")
    with transaction:
        logger.bind(order_id=3).info("queued {}", 1)
    logger.complete()
    (document,) = documents(lines)
    assert document["message"] == "queued 1"
    assert document["labels"] == {"order_id": "3"}
    assert document["trace"] == {"id": transaction.trace_id}


@pytest.mark.parametrize("json_first", [True, False])
@pytest.mark.parametrize("enqueue", [False, True])
def test_sentry_event_id_whichever_sink_runs_first(
    transport: CapturingTransport, json_first: bool, enqueue: bool
) -> None:
    """The line of a record a SentrySink sends names that event, in either sink order."""
    lines: list[str] = []
    added: list[int] = []

    def add_json_sink() -> None:
        added.append(
            logger.add(lines.append, format=LoguruJsonFormat(), level="TRACE", enqueue=enqueue)
        )

    if json_first:
        add_json_sink()
    sink = SentrySink(dsn=TEST_DSN, transport=transport)
    added.append(logger.add(sink, level="INFO"))
    if not json_first:
        add_json_sink()
    try:
        logger.info("just info")
        logger.error("went wrong")
        logger.complete()
        sentry_sdk.flush()
    finally:
        for handler_id in added:
            logger.remove(handler_id)
    info, error = documents(lines)
    (event,) = transport.events
    assert "sentry" not in info
    assert error["sentry"] == {"event_id": event["event_id"]}


def test_no_event_id_without_a_sentry_sink(add_json: AddJson) -> None:
    """Without a SentrySink no line has sentry.event_id."""
    lines = add_json()
    logger.critical("bad")
    (document,) = documents(lines)
    assert "sentry" not in document


FORMAT = LoguruJsonFormat(service_name="orders", fields=DECLARED, max_length=200)
CONTRACT = Contract(FORMAT.schema)


@PROFILE
@given(records=st.lists(st.tuples(extras, st.booleans()), min_size=1, max_size=3))
def test_hostile_bind_values_never_break_the_contract(
    records: list[tuple[dict[str, Any], bool]],
) -> None:
    """Hostile bind() values: each line strict JSON, each path its schema type, accepted."""
    lines: list[str] = []
    handler_id = logger.add(lines.append, format=FORMAT, level="TRACE", catch=False)
    try:
        for extra, with_exception in records:
            bound = logger.bind(**extra)
            if with_exception:
                try:
                    raise ValueError("failed")
                except ValueError:
                    bound.exception("msg {}", "x")
            else:
                bound.error("msg {}", "x")
    finally:
        logger.remove(handler_id)
    assert len(lines) == len(records)
    for line in lines:
        assert line.endswith("\n")
        # loguru applied the template: what arrives is the line itself.
        document = CONTRACT.check(line[:-1])
        # Written as encoding the whole document would write it ('<' escaped for loguru).
        assert render_module._dumps(document).replace("<", "\\u003c") == line[:-1]


def test_importing_the_package_does_not_import_loguru() -> None:
    """loguru stays optional: the package, and LoguruJsonFormat's module, import without it."""
    source = textwrap.dedent(
        """
        import sys
        import sentry_logging_std
        from sentry_logging_std._loguru_json import LoguruJsonFormat
        assert "loguru" not in sys.modules, "loguru imported"
        assert "sentry_logging_std._loguru" not in sys.modules
        LoguruJsonFormat()
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
