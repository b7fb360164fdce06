"""JsonFormatter: fields, value kinds, keys, limits, exceptions, options, configuration."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import io
import ipaddress
import json
import logging
import logging.config
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any, Optional

import pytest
import sentry_sdk

from sentry_logging_std import JsonFormatter
from sentry_logging_std import _render as render_module
from tests.conftest import MakeHandler
from tests.type_checks import strict_loads


def make_record(
    msg: Any = "hello",
    args: Any = (),
    *,
    level: int = logging.INFO,
    exc_info: Any = None,
    extra: Optional[dict[str, Any]] = None,
    name: str = "tests.formatter",
    sinfo: Optional[str] = None,
) -> logging.LogRecord:
    logger = logging.getLogger(name)
    return logger.makeRecord(
        name, level, "/srv/app/orders.py", 42, msg, args, exc_info, "place", extra, sinfo
    )


def render(formatter: JsonFormatter, record: logging.LogRecord) -> dict[str, Any]:
    line = formatter.format(record)
    assert "\n" not in line
    document: dict[str, Any] = strict_loads(line)
    return document


def labels_of(value: Any, **options: Any) -> dict[str, str]:
    document = render(JsonFormatter(**options), make_record(extra={"v": value}))
    result: dict[str, str] = document["labels"]
    return result


# --- fixed fields ------------------------------------------------------------------


def test_fixed_ecs_fields() -> None:
    """A plain record carries the ECS fields with the types ECS gives them."""
    formatter = JsonFormatter(
        service_name="orders", service_environment="prod", service_version="1.2", hostname="web-1"
    )
    record = make_record("order %s placed", ("A1",))
    record.created = 1700000000.5
    document = render(formatter, record)
    assert document["@timestamp"] == "2023-11-14T22:13:20.500Z"
    assert document["log"] == {
        "level": "info",
        "logger": "tests.formatter",
        "origin": {"file": {"name": "orders.py", "line": 42}, "function": "place"},
    }
    assert document["message"] == "order A1 placed"
    assert document["service"] == {"name": "orders", "environment": "prod", "version": "1.2"}
    assert document["host"] == {"hostname": "web-1"}
    assert document["process"]["pid"] == record.process
    assert document["process"]["thread"] == {"name": record.threadName}
    assert document["ecs"] == {"version": "9.4.0"}
    assert "error" not in document
    assert "labels" not in document
    assert "trace" not in document
    assert "sentry" not in document


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1700000000.999, "2023-11-14T22:13:20.999Z"),
        (1700000001.0004, "2023-11-14T22:13:21.000Z"),
        (253402300799.5, "9999-12-31T23:59:59.500Z"),
    ],
)
def test_timestamp_is_utc_milliseconds_z(created: float, expected: str) -> None:
    """@timestamp is ISO 8601 UTC with three digits of milliseconds and Z."""
    record = make_record()
    record.created = created
    assert render(JsonFormatter(), record)["@timestamp"] == expected


@pytest.mark.parametrize("created", [float("nan"), -5.0, 1e20, "yesterday", None])
def test_impossible_record_time_still_gives_a_valid_timestamp(created: Any) -> None:
    """A record with an unusable time is written with the current time, not lost."""
    record = make_record()
    record.created = created
    stamp = render(JsonFormatter(), record)["@timestamp"]
    assert dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").year >= 2024


def test_hostile_record_attributes_keep_fixed_types() -> None:
    """Records rebuilt from dicts (makeLogRecord) with odd attribute types still type-check."""
    record = logging.makeLogRecord(
        {
            "name": 5,
            "levelname": None,
            "lineno": "x",
            "funcName": b"f",
            "filename": ["a"],
            "process": 2**80,
            "threadName": 7,
            "msg": "m",
        }
    )
    document = render(JsonFormatter(), record)
    assert document["log"]["logger"] == "5"
    assert document["log"]["level"] == "null"
    assert document["log"]["origin"] == {"file": {"name": '["a"]'}, "function": "b'f'"}
    assert document["process"] == {"thread": {"name": "7"}}


# --- value kinds -----------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "<BadStr>"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _cycle() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


VALUE_KINDS = [
    ("text", "abc", "abc"),
    ("int", 42, "42"),
    ("negative int", -7, "-7"),
    ("int beyond 64 bits", 2**70, "1180591620717411303424"),
    ("float", 12.5, "12.5"),
    ("nan", float("nan"), "nan"),
    ("infinity", float("inf"), "inf"),
    ("bool", True, "true"),
    ("none", None, "null"),
    ("bytes", b"\xff\x00", "b'\\xff\\x00'"),
    ("datetime", dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
    ("date", dt.date(2024, 1, 2), "2024-01-02"),
    ("decimal", decimal.Decimal("1.10"), "1.10"),
    ("uuid", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("set", {3}, "{3}"),
    ("enum", Color.RED, "Color.RED"),
    ("dataclass", Point(1, 2), "Point(x=1, y=2)"),
    ("exception", ValueError("boom"), "boom"),
    ("ip", ipaddress.ip_address("10.0.0.1"), "10.0.0.1"),
    ("str raises", BadStr(), "<BadStr>"),
    ("str and repr raise", Unprintable(), "<unprintable Unprintable>"),
    ("dict", {"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'),
    ("list with nan", [1.5, float("nan")], '[1.5,"nan"]'),
    ("tuple with huge int", (2**70,), '["1180591620717411303424"]'),
    ("dict with odd keys", {1: "x", None: "y"}, '{"1":"x","None":"y"}'),
    (
        "nested hostile",
        {"u": Unprintable(), "d": Point(0, 0)},
        '{"u":"<unprintable Unprintable>","d":"Point(x=0, y=0)"}',
    ),
    ("cycle", _cycle(), '[1,"<cycle>"]'),
    ("surrogate", "a\udc80b", "a\ufffdb"),
]


@pytest.mark.parametrize(
    ("value", "expected"), [v[1:] for v in VALUE_KINDS], ids=[v[0] for v in VALUE_KINDS]
)
def test_value_kinds_become_label_strings(value: Any, expected: str) -> None:
    """Each kind of undeclared value is written as one string under labels."""
    assert labels_of(value) == {"v": expected}


class Level(enum.IntEnum):
    ONE = 1


#: Values that are equal as dict keys but written differently as labels.
EQUAL_BUT_DIFFERENT: list[Any] = [
    1,
    True,
    1.0,
    Level.ONE,
    decimal.Decimal(1),
    "1",
    0,
    False,
    0.0,
    -0.0,
    float("nan"),
    2**70,
    10**15,
    10.0**15,
]


def test_remembered_labels_never_answer_for_an_equal_value_of_another_kind() -> None:
    """One formatter, values that compare equal in every order: each keeps its own text."""
    formatter = JsonFormatter()
    expected = [labels_of(value)["v"] for value in EQUAL_BUT_DIFFERENT]
    assert expected[:3] == ["1", "true", "1.0"]
    for values in (EQUAL_BUT_DIFFERENT, EQUAL_BUT_DIFFERENT[::-1], EQUAL_BUT_DIFFERENT):
        written = [
            render(formatter, make_record(extra={"v": value}))["labels"]["v"] for value in values
        ]
        assert written == (expected if values is EQUAL_BUT_DIFFERENT else expected[::-1])


def test_deep_nesting_and_huge_containers_are_bounded() -> None:
    """Very deep or very large nested values cost a bounded string, not the record."""
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    labels = labels_of({"deep": deep, "wide": list(range(100000))}, max_length=1000)
    assert len(labels["v"]) <= 1000
    assert labels["v"].endswith("characters cut]")


# --- declared fields ---------------------------------------------------------------

DECLARED = [
    ("long", 5, 5),
    ("long", "12", 12),
    ("long", " -3 ", -3),
    ("long", 7.0, 7),
    ("long", decimal.Decimal("8"), 8),
    ("long", 12.7, None),
    ("long", "abc", None),
    ("long", True, None),
    ("long", 2**63, None),
    ("long", float("nan"), None),
    ("byte", 127, 127),
    ("byte", 128, None),
    ("unsigned_long", 2**64 - 1, 2**64 - 1),
    ("unsigned_long", -1, None),
    ("double", 1, 1.0),
    ("double", "2.5", 2.5),
    ("double", decimal.Decimal("0.1"), 0.1),
    ("double", float("inf"), None),
    ("double", "nan", None),
    ("double", 10**400, None),
    ("float", 1e39, None),
    ("half_float", 70000, None),
    ("boolean", True, True),
    ("boolean", "false", False),
    ("boolean", 1, True),
    ("boolean", "yes", None),
    ("date", dt.datetime(2024, 1, 2, 3, 4, 5, 678900), "2024-01-02T03:04:05.678Z"),
    (
        "date",
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "2024-01-02T01:04:05.000Z",
    ),
    ("date", dt.date(2024, 1, 2), "2024-01-02T00:00:00.000Z"),
    ("date", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
    ("date", 0, "1970-01-01T00:00:00.000Z"),
    ("date", "soon", None),
    ("date", 1e20, None),
    ("ip", "10.0.0.1", "10.0.0.1"),
    ("ip", "2001:DB8::1", "2001:db8::1"),
    ("ip", ipaddress.ip_address("::1"), "::1"),
    ("ip", "fe80::1%eth0", None),
    ("ip", "999.1.1.1", None),
    ("ip", 167772161, None),
    ("keyword", 5, "5"),
    ("keyword", {"a": 1}, '{"a":1}'),
    ("text", None, "null"),
]


@pytest.mark.parametrize(
    ("es_type", "value", "expected"),
    DECLARED,
    ids=[f"{t}-{v!r}"[:40] for t, v, _ in DECLARED],
)
def test_declared_field_has_its_type_or_a_companion(
    es_type: str, value: Any, expected: Any
) -> None:
    """A declared value is converted to its type; one that cannot be lands, as text, in f_raw."""
    document = render(JsonFormatter(fields={"f": es_type}), make_record(extra={"f": value}))
    if expected is None:
        assert "f" not in document
        assert isinstance(document["f_raw"], str)
    else:
        assert document["f"] == expected
        assert type(document["f"]) is type(expected)
        assert "f_raw" not in document


def test_dotted_declared_fields_nest() -> None:
    """A declared dotted name is written as nested objects, its companion beside it."""
    formatter = JsonFormatter(fields="http.response.status_code:integer, order.id:long")
    document = render(
        formatter, make_record(extra={"http.response.status_code": 200, "order.id": "x"})
    )
    assert document["http"] == {"response": {"status_code": 200}}
    assert document["order"] == {"id_raw": "x"}


# --- keys ---------------------------------------------------------------------------


def test_reserved_names_go_to_labels_and_fixed_objects_stay_intact() -> None:
    """Extras named like the fixed objects cannot replace or break them."""
    extra: dict[str, Any] = {
        name: {"x": 1}
        for name in ("error", "event", "log", "service", "host", "trace", "labels", "ecs", "span")
    }
    extra["message_"] = "m"
    document = render(JsonFormatter(service_name="orders"), make_record(extra=extra))
    assert document["log"]["level"] == "info"
    assert document["service"] == {"name": "orders"}
    assert document["labels"]["labels"] == '{"x":1}'
    assert document["labels"]["error"] == '{"x":1}'
    assert "error" not in {k for k, v in document.items() if isinstance(v, str)}


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("", "_"),
        (" ", "_"),
        (".", "_"),
        ("a.", "a_"),
        (".a", "_a"),
        ("a..b", "a__b"),
        ("log.level", "log_level"),
        ("x" * 300, "x" * 256),
    ],
)
def test_label_keys_are_made_safe(key: str, label: str) -> None:
    """Label keys have no dots, are never blank, and are at most 256 characters."""
    record = make_record()
    record.__dict__[key] = "v"  # not every key passes through extra=
    assert render(JsonFormatter(), record)["labels"] == {label: "v"}


def test_keys_made_the_same_are_numbered_not_lost() -> None:
    """Two extras whose safe keys coincide both survive, in order."""
    record = make_record()
    for key in ("a.b", "a_b", "a..b"):
        record.__dict__[key] = key
    record.__dict__[1] = "int key"  # type: ignore[index]
    assert render(JsonFormatter(), record)["labels"] == {
        "a_b": "a.b",
        "a_b_2": "a_b",
        "a__b": "a..b",
        "1": "int key",
    }
    # Again, now the keys are cached: the same result.
    record2 = make_record()
    for key in ("a_b", "a.b"):
        record2.__dict__[key] = key
    assert render(JsonFormatter(), record2)["labels"] == {"a_b": "a_b", "a_b_2": "a.b"}


def test_attributes_added_by_other_formatters_are_not_extras() -> None:
    """record.message / asctime, set by a stdlib Formatter that ran first, are not labels."""
    record = make_record(extra={"k": 1})
    logging.Formatter("%(asctime)s %(message)s").format(record)
    assert render(JsonFormatter(), record)["labels"] == {"k": "1"}


# --- limits ------------------------------------------------------------------------


def test_long_message_and_label_are_cut_with_a_marker() -> None:
    """Strings longer than max_length are cut, and say how much was cut."""
    record = make_record("m" * 5000, extra={"big": "b" * 5000})
    document = render(JsonFormatter(max_length=1000), record)
    assert len(document["message"]) <= 1000
    assert document["message"].startswith("mmm")
    assert document["message"].endswith(f"...[{5000 - 960} characters cut]")
    assert len(document["labels"]["big"]) <= 1000


def _recurse(n: int) -> None:
    if n:
        _recurse(n - 1)
    raise RuntimeError("deep end")


def test_long_stack_trace_keeps_both_ends() -> None:
    """A cut stack trace keeps its beginning and its final exception line."""
    try:
        _recurse(50)
    except RuntimeError:
        record = make_record(level=logging.ERROR, exc_info=sys.exc_info())
    stack = render(JsonFormatter(max_length=300), record)["error"]["stack_trace"]
    assert len(stack) <= 300
    assert stack.startswith("Traceback (most recent call last):")
    assert "characters cut]" in stack
    assert stack.endswith("RuntimeError: deep end")


# --- exceptions ---------------------------------------------------------------------


def _without_carets(text: str) -> str:
    lines = [
        line for line in text.splitlines() if not (line.strip() and set(line.strip()) <= set("^~"))
    ]
    return "\n".join(lines)


def _inner() -> None:
    raise KeyError("missing")


def _cause() -> None:
    try:
        _inner()
    except KeyError as exc:
        raise ValueError("order failed") from exc


def _context() -> None:
    try:
        _inner()
    except KeyError:
        raise ValueError("during handling")  # noqa: B904 - the implicit context is the point


def _suppressed() -> None:
    try:
        _inner()
    except KeyError:
        raise ValueError("clean") from None


def _cycle_exc() -> None:
    first = ValueError("a")
    second = TypeError("b")
    first.__context__ = second
    second.__context__ = first
    raise first


class BadMessage(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def _bad_message() -> None:
    raise BadMessage


def _syntax() -> None:
    compile("a = (", "<snippet>", "exec")


def _no_message() -> None:
    raise ValueError


def _dynamic() -> None:
    exec("raise ValueError('from exec')")


RAISERS = [
    _cause,
    _context,
    _suppressed,
    _cycle_exc,
    _bad_message,
    _syntax,
    _no_message,
    _dynamic,
    lambda: _recurse(30),
]


@pytest.mark.parametrize("raiser", RAISERS, ids=lambda f: f.__name__)
def test_stack_trace_is_the_chain_as_python_prints_it(raiser: Any) -> None:
    """error.stack_trace is traceback.format_exception's text (caret lines aside)."""
    try:
        raiser()
    except Exception:
        exc_info = sys.exc_info()
    record = make_record(level=logging.ERROR, exc_info=exc_info)
    error = render(JsonFormatter(), record)["error"]
    expected = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    assert _without_carets(error["stack_trace"]) == _without_carets(expected)
    assert (
        error["type"]
        == traceback.format_exception_only(exc_info[0], exc_info[1])[-1].split(":")[0].strip()
    )


def test_error_fields_for_a_chained_exception() -> None:
    """error.type names the outermost exception (module-qualified), message is its str()."""

    class OrderError(Exception):
        pass

    try:
        raise OrderError("nope")
    except OrderError:
        record = make_record(level=logging.ERROR, exc_info=sys.exc_info())
    error = render(JsonFormatter(), record)["error"]
    assert (
        error["type"] == f"{__name__}.test_error_fields_for_a_chained_exception.<locals>.OrderError"
    )
    assert error["message"] == "nope"


class CountingError(Exception):
    """Counts str() calls: each rendering of its traceback makes one."""

    calls = 0

    def __str__(self) -> str:
        type(self).calls += 1
        return "counted"


def test_traceback_is_rendered_once_per_record_for_every_handler() -> None:
    """Two formatters on one record render the traceback once; the record is not changed."""
    CountingError.calls = 0
    try:
        raise CountingError
    except CountingError:
        record = make_record(level=logging.ERROR, exc_info=sys.exc_info())
    before = dict(record.__dict__)
    first = render(JsonFormatter(), record)
    after_first = CountingError.calls  # error.message + one rendering
    second = render(JsonFormatter(max_length=5000), record)
    assert first["error"]["stack_trace"] == second["error"]["stack_trace"]
    assert after_first == 2
    assert CountingError.calls == 3  # only error.message again
    assert record.__dict__ == before
    assert record.exc_text is None


def test_exc_info_variants() -> None:
    """exc_info as True, a tuple, an exception, (None, None, None) or 0 never breaks a line."""
    logger = logging.getLogger("tests.formatter.variants")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("v")
        except ValueError as exc:
            logger.error("a", exc_info=True)
            logger.error("b", exc_info=sys.exc_info())
            logger.error("c", exc_info=exc)
        logger.error("d", exc_info=True)  # outside except: (None, None, None)
        logger.error("e", exc_info=0)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
    lines = [strict_loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["a", "b", "c", "d", "e"]
    assert [("error" in line) for line in lines] == [True, True, True, False, False]


def test_stack_info_is_kept() -> None:
    """stack_info (logger.info(..., stack_info=True)) is written as error.stack_trace."""
    record = make_record(sinfo="Stack (most recent call last):\n  File x")
    assert render(JsonFormatter(), record)["error"] == {
        "stack_trace": "Stack (most recent call last):\n  File x"
    }


def test_subclass_format_exception_is_honoured() -> None:
    """A subclass overriding formatException decides the stack trace text."""

    class Short(JsonFormatter):
        def formatException(self, ei: Any) -> str:
            return "short"

    try:
        raise ValueError("v")
    except ValueError:
        record = make_record(level=logging.ERROR, exc_info=sys.exc_info())
    assert render(Short(), record)["error"]["stack_trace"] == "short"


# --- never raise, never mutate ------------------------------------------------------


def test_message_that_cannot_be_formatted_keeps_both_parts() -> None:
    """Arguments that do not fit the template: the line has the template and the arguments."""
    document = render(JsonFormatter(), make_record("%d items", ("many",)))
    assert document["message"].startswith("%d items (not formatted with args ('many',)")


def test_msg_whose_str_raises() -> None:
    """A msg object whose __str__ raises still gives a line."""
    document = render(JsonFormatter(), make_record(Unprintable()))
    assert document["message"].startswith("<unprintable Unprintable>")


def test_format_never_raises_even_when_rendering_fails() -> None:
    """If the document cannot be built at all, a minimal valid line is written instead."""

    class Broken(JsonFormatter):
        def formatException(self, ei: Any) -> str:
            raise RuntimeError("broken")

    try:
        raise ValueError("v")
    except ValueError:
        record = make_record(level=logging.ERROR, exc_info=sys.exc_info())
    document = render(Broken(), record)
    assert document["error"]["stack_trace"].startswith("Traceback")

    renderer = JsonFormatter()._renderer
    line = renderer.fallback_line(1.0, "INFO", "x", "m", RuntimeError("why"))
    assert strict_loads(line)["labels"] == {"formatter_error": "RuntimeError: why"}


def test_other_handlers_get_the_original_record() -> None:
    """Formatting leaves the record exactly as it was for the next handler."""
    record = make_record("x %s", ("y",), extra={"k": {"nested": [1]}})
    snapshot = dict(record.__dict__)
    JsonFormatter(fields={"k": "long"}).format(record)
    assert record.__dict__ == snapshot
    assert not hasattr(record, "message")


def test_stdlib_json_encoder_writes_the_same_document() -> None:
    """Without orjson, the json module writes the same document."""
    record = make_record("m\u00e9 \udc80", extra={"a": 1.5, "b": [1, {"c": None}]})
    fast = JsonFormatter()
    slow = JsonFormatter()
    slow._renderer._encode = render_module._encode_stdlib
    assert strict_loads(fast.format(record)) == strict_loads(slow.format(record))


# --- options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"service_name": 5}, TypeError, "service_name"),
        ({"hostname": 5}, TypeError, "hostname"),
        ({"max_length": "many"}, ValueError, "max_length"),
        ({"max_length": 10}, ValueError, "max_length"),
        ({"max_length": True}, TypeError, "max_length"),
        ({"fields": ["order_id"]}, TypeError, "fields"),
        ({"fields": {"order_id": "bigint"}}, ValueError, "fields"),
        ({"fields": {"order_id": 5}}, TypeError, "fields"),
        ({"fields": "order_id"}, ValueError, "fields"),
        ({"fields": {"log.level": "keyword"}}, ValueError, "fields"),
        ({"fields": {"labels.x": "keyword"}}, ValueError, "fields"),
        ({"fields": {"a..b": "keyword"}}, ValueError, "fields"),
        ({"fields": {".a": "keyword"}}, ValueError, "fields"),
        ({"fields": {"": "keyword"}}, ValueError, "fields"),
        ({"fields": {"msg": "keyword"}}, ValueError, "fields"),
        ({"fields": {"a": "long", "a.b": "long"}}, ValueError, "fields"),
        ({"fields": {"a": "long", "a_raw": "keyword"}}, ValueError, "fields"),
        ({"fields": {"_id": "keyword"}}, ValueError, "fields"),
        ({"style": "?"}, ValueError, "style"),
        ({"fmt": "%(message)s"}, ValueError, "fmt"),
        ({"fmt": "colour=red"}, ValueError, "fmt"),
        ({"fmt": "service_name=a", "service_name": "b"}, ValueError, "service_name"),
        ({"defaults": ["x"]}, TypeError, "defaults"),
        ({"defaults": {"msg": 1}}, ValueError, "defaults"),
        ({"datefmt": 5}, TypeError, "datefmt"),
    ],
)
def test_bad_options_fail_at_configuration_naming_the_option(
    options: dict[str, Any], error: type[Exception], names: str
) -> None:
    """Every option is checked in __init__, with an error naming it."""
    with pytest.raises(error, match=names):
        JsonFormatter(**options)


def test_options_in_fmt() -> None:
    """fmt may carry options as option=value pairs (for fileConfig and dictConfig "class")."""
    formatter = JsonFormatter(
        "service_name=orders 'service_version=1 2' "
        "fields=order_id:long,amount:double max_length=500"
    )
    document = render(formatter, make_record("m" * 900, extra={"order_id": "7", "amount": 1}))
    assert document["service"] == {"name": "orders", "version": "1 2"}
    assert document["order_id"] == 7
    assert document["amount"] == 1.0
    assert len(document["message"]) <= 500


def test_defaults_fill_missing_extras() -> None:
    """defaults= gives values for extras a record does not carry; the record's own win."""
    formatter = JsonFormatter(defaults={"region": "eu", "order_id": 0}, fields={"order_id": "long"})
    assert render(formatter, make_record())["labels"] == {"region": "eu"}
    document = render(formatter, make_record(extra={"region": "us", "order_id": 5}))
    assert document["labels"] == {"region": "us"}
    assert document["order_id"] == 5


def test_dictconfig_with_factory_and_with_class(tmp_path: Path) -> None:
    """dictConfig builds it with "()" and keyword options, and with "class" and fmt options."""
    out = tmp_path / "out.log"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {
                    "()": "sentry_logging_std.JsonFormatter",
                    "service_name": "orders",
                    "fields": {"order_id": "long", "amount": "double", "customer": "keyword"},
                },
                "json_class": {
                    "class": "sentry_logging_std.JsonFormatter",
                    "format": "service_name=billing fields=order_id:long",
                },
                "json_format_key": {
                    "()": "sentry_logging_std.JsonFormatter",
                    "format": "service_name=shipping",
                },
            },
            "handlers": {
                "a": {"class": "logging.FileHandler", "filename": str(out), "formatter": "json"},
                "b": {
                    "class": "logging.FileHandler",
                    "filename": str(out),
                    "formatter": "json_class",
                },
                "c": {
                    "class": "logging.FileHandler",
                    "filename": str(out),
                    "formatter": "json_format_key",
                },
            },
            "loggers": {"tests.dictconfig": {"handlers": ["a", "b", "c"], "level": "INFO"}},
        }
    )
    logger = logging.getLogger("tests.dictconfig")
    try:
        logger.info("placed", extra={"order_id": "12", "amount": 3})
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            handler.close()
    a, b, c = (strict_loads(line) for line in out.read_text().splitlines())
    assert (a["service"]["name"], a["order_id"], a["amount"]) == ("orders", 12, 3.0)
    assert (b["service"]["name"], b["order_id"], b["labels"]) == ("billing", 12, {"amount": "3"})
    assert c["service"]["name"] == "shipping"


def test_fileconfig(tmp_path: Path) -> None:
    """fileConfig passes only format/datefmt/style: the options travel in format."""
    out = tmp_path / "out.log"
    ini = tmp_path / "logging.ini"
    ini.write_text(
        f"""
[loggers]
keys=root,app

[handlers]
keys=file

[formatters]
keys=json

[logger_root]
handlers=

[logger_app]
level=INFO
handlers=file
qualname=tests.fileconfig
propagate=0

[handler_file]
class=FileHandler
formatter=json
args=({str(out)!r},)

[formatter_json]
class=sentry_logging_std.JsonFormatter
format=service_name=orders fields=order_id:long,amount:double
datefmt=%%Y
"""
    )
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    logger = logging.getLogger("tests.fileconfig")
    try:
        logger.info("placed", extra={"order_id": 12, "amount": "x"})
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True
    (document,) = (strict_loads(line) for line in out.read_text().splitlines())
    assert document["service"] == {"name": "orders"}
    assert document["order_id"] == 12
    assert document["amount_raw"] == "x"


# --- Sentry ---------------------------------------------------------------------------


def test_no_trace_ids_without_an_active_span() -> None:
    """Without a span (and without a client) there is no trace field, and nothing raises."""
    document = render(JsonFormatter(), make_record())
    assert "trace" not in document
    assert "span" not in document


def test_trace_ids_from_the_active_span(make_handler: MakeHandler) -> None:
    """With a Sentry transaction and span active, the line carries their ids."""
    handler, _ = make_handler(traces_sample_rate=1.0)
    assert handler.init()  # transactions of sentry-sdk's own API need a running client
    transaction = sentry_sdk.start_transaction(name="checkout")
    with transaction, sentry_sdk.start_span(op="db") as span:
        document = render(JsonFormatter(), make_record())
    assert document["trace"] == {"id": transaction.trace_id}
    assert document["span"] == {"id": span.span_id}
    assert document["transaction"] == {"id": transaction.span_id}


@pytest.mark.parametrize("json_first", [True, False], ids=["json-first", "sentry-first"])
def test_sentry_event_id_whichever_handler_runs_first(
    make_handler: MakeHandler, json_first: bool
) -> None:
    """The line of a record sent to Sentry names that event, in either handler order."""
    stream = io.StringIO()
    json_handler = logging.StreamHandler(stream)
    json_handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.app")
    if json_first:
        logger.addHandler(json_handler)
        _handler, transport = make_handler()
    else:
        _handler, transport = make_handler()
        logger.addHandler(json_handler)
    try:
        logger.info("just info")
        logger.error("went wrong")
        sentry_sdk.flush()
    finally:
        logger.removeHandler(json_handler)
    info, error = (strict_loads(line) for line in stream.getvalue().splitlines())
    (event,) = transport.events
    assert "sentry" not in info
    assert error["sentry"] == {"event_id": event["event_id"]}


def test_labels_preserve_all_extra_types_stably_across_records() -> None:
    """The same extra key with an int, a str, a dict and None is a string every time."""
    formatter = JsonFormatter()
    seen = {
        json.dumps(render(formatter, make_record(extra={"k": value}))["labels"]["k"])[0]
        for value in (1, "a", {"x": 1}, None, [1], 1.5, True)
    }
    assert seen == {'"'}


def test_a_pickled_formatter_writes_the_same_lines() -> None:
    """Pickling (a child started by spawn) rebuilds the formatter from its arguments: the
    copy writes the same line, scrubbing included, and shares no tables with the original."""
    import pickle

    formatter = JsonFormatter(
        service_name="orders", scrub_keys=["pin"], fields={"order.id": "long"}
    )
    record = logging.LogRecord(
        "orders", logging.ERROR, "f.py", 7, "pin=%s for %s", ("4321", 7), None
    )
    copy = pickle.loads(pickle.dumps(formatter))
    assert copy.format(record) == formatter.format(record)
    assert "4321" not in copy.format(record)
    assert copy._renderer is not formatter._renderer
