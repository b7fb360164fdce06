"""JsonRenderer: structlog event dicts as JsonFormatter's lines, from the same renderer."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from sentry_logging_std import JsonFormatter, JsonRenderer
from sentry_logging_std import _render as render_module
from tests.type_checks import DECLARED, PROFILE, Contract, extras, key_paths, strict_loads, values

ROOT = Path(__file__).resolve().parent.parent
MARKER = "[Filtered]"

#: What a structlog application typically runs before the renderer.
CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def configure(renderer: Any, chain: Any = None) -> io.StringIO:
    """structlog writing *renderer*'s lines to a StringIO, through a real chain."""
    out = io.StringIO()
    structlog.configure(
        processors=[*(CHAIN if chain is None else chain), renderer],
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    return out


def documents(out: io.StringIO, contract: Contract | None = None) -> list[dict[str, Any]]:
    """Every line written: strict JSON, and accepted by the ES template of its schema."""
    lines = out.getvalue().split("\n")[:-1]  # not splitlines: U+0085 and U+2028 are in lines
    if contract is None:
        return [strict_loads(line) for line in lines]
    return [contract.check(line) for line in lines]


def fail(order_id: int) -> None:
    try:
        raise KeyError(order_id)
    except KeyError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc


def without_origin(document: dict[str, Any]) -> dict[str, Any]:
    """*document* without what legitimately differs between the front doors: time, origin."""
    document = copy.deepcopy(document)
    document.pop("@timestamp")
    document["log"].pop("origin", None)
    return document


def test_a_plain_event() -> None:
    """Every fixed field from the event dict and the calling thread, named and typed as ECS."""
    renderer = JsonRenderer(service_name="orders", service_version="2.4.1", hostname="h-1")
    out = configure(renderer)
    structlog.get_logger().bind(logger="app.orders").warning("order placed", order="A-17")
    structlog.get_logger().info("no logger name")
    document, nameless = documents(out, Contract(renderer.schema))
    assert dt.datetime.strptime(document.pop("@timestamp"), "%Y-%m-%dT%H:%M:%S.%fZ")
    assert nameless["log"] == {"level": "info", "logger": ""}
    assert document == {
        "log": {"level": "warning", "logger": "app.orders"},
        "message": "order placed",
        "process": {"pid": os.getpid(), "thread": {"name": threading.current_thread().name}},
        "service": {"name": "orders", "version": "2.4.1"},
        "host": {"hostname": "h-1"},
        "ecs": {"version": "9.4.0"},
        "labels": {"order": "A-17"},
    }


def test_same_document_as_json_formatter() -> None:
    """The same data through JsonFormatter and JsonRenderer: the same fields."""
    options: dict[str, Any] = {"service_name": "orders", "fields": {"order_id": "long"}}
    formatter = JsonFormatter(**options)
    renderer = JsonRenderer(**options)
    extra = {"order_id": "17", "region": "eu", "amount": 2.5, "tags_": [1, {"a": None}]}
    try:
        fail(7)
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "app.orders", logging.ERROR, __file__, 10, "order %s", ("A",), exc_info, func="f"
    )
    record.__dict__.update(extra)
    event = {
        "event": "order A",
        "level": "error",
        "logger": "app.orders",
        "timestamp": record.created,
        "exc_info": exc_info,
        **extra,
    }
    ours = strict_loads(renderer(None, "error", event))
    theirs = strict_loads(formatter.format(record))
    assert without_origin(ours) == without_origin(theirs)
    assert ours["@timestamp"] == theirs["@timestamp"]
    assert ours["order_id"] == 17
    assert ours["labels"] == {"region": "eu", "amount": "2.5", "tags_": '[1,{"a":null}]'}
    assert "KeyError: 7" in ours["error"]["stack_trace"]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:00.123Z"),
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T14:00:00.999999+02:00", "2024-05-01T12:00:00.999Z"),
        (1714564800.25, "2024-05-01T12:00:00.250Z"),
        (dt.datetime(2024, 5, 1, 12, 0, 0, 1000, dt.timezone.utc), "2024-05-01T12:00:00.001Z"),
    ],
)
def test_timestamps(stamp: Any, expected: str) -> None:
    """``timestamp`` as TimeStamper writes it (ISO text, a float) becomes @timestamp, in UTC."""
    renderer = JsonRenderer()
    document = strict_loads(renderer(None, "info", {"event": "x", "timestamp": stamp}))
    assert document["@timestamp"] == expected


def test_a_remembered_millisecond_is_not_used_for_another_zone() -> None:
    """Two timestamps sharing their first 23 characters but not their zone are two times."""
    renderer = JsonRenderer()
    first = renderer(None, "info", {"event": "x", "timestamp": "2024-05-01T12:00:00.123456Z"})
    again = renderer(None, "info", {"event": "x", "timestamp": "2024-05-01T12:00:00.123999Z"})
    other = renderer(None, "info", {"event": "x", "timestamp": "2024-05-01T12:00:00.123+01:00"})
    assert strict_loads(first)["@timestamp"] == "2024-05-01T12:00:00.123Z"
    assert strict_loads(again)["@timestamp"] == "2024-05-01T12:00:00.123Z"
    assert strict_loads(other)["@timestamp"] == "2024-05-01T11:00:00.123Z"
    # As long as a Z text, not ending in Z (Python 3.11 reads it; 3.9 and 3.10 cannot: now).
    same_length = "2024-05-01T12:00:00.1234+01"
    assert len(same_length) == 27
    renderer(None, "info", {"event": "x", "timestamp": "2024-05-01T12:00:00.123456Z"})
    line = renderer(None, "info", {"event": "x", "timestamp": same_length})
    assert strict_loads(line)["@timestamp"] != "2024-05-01T12:00:00.123Z"


def test_local_and_missing_timestamps_are_now() -> None:
    """A local ISO time (TimeStamper without utc) is read as local; no timestamp is now."""
    renderer = JsonRenderer()
    before = dt.datetime.now(dt.timezone.utc)
    local = dt.datetime.now().isoformat()
    for event in ({"event": "x"}, {"event": "x", "timestamp": local}):
        stamp = strict_loads(renderer(None, "info", event))["@timestamp"]
        moment = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs(moment.replace(tzinfo=dt.timezone.utc) - before) < dt.timedelta(seconds=5)


def test_level_from_the_method_name_without_add_log_level() -> None:
    """Without a ``level`` key the method name is log.level (exception is error, warn warning)."""
    renderer = JsonRenderer()
    out = configure(renderer, [])
    log = structlog.get_logger()
    log.info("a")
    log.warn("b")
    try:
        raise ValueError("c")
    except ValueError:
        log.exception("c")
    levels = [document["log"]["level"] for document in documents(out)]
    assert levels == ["info", "warning", "error"]


def test_exception_chain_from_exc_info() -> None:
    """log.exception (exc_info True), a tuple and an instance give the whole chain."""
    renderer = JsonRenderer()
    out = configure(renderer)
    log = structlog.get_logger()
    try:
        fail(7)
    except RuntimeError as exc:
        log.exception("order failed")
        log.error("as a tuple", exc_info=sys.exc_info())
        caught = exc
    log.error("as an instance", exc_info=caught)
    log.error("nothing raised", exc_info=True)
    *errors, nothing = documents(out, Contract(renderer.schema))
    for document in errors:
        error = document["error"]
        assert error["type"] == "RuntimeError"
        assert error["message"] == "order 7 failed"
        stack = error["stack_trace"]
        assert stack.startswith("Traceback (most recent call last):")
        assert "KeyError: 7" in stack
        assert "The above exception was the direct cause of the following exception" in stack
        assert stack.endswith("RuntimeError: order 7 failed")
        assert "labels" not in document
    assert "error" not in nothing
    assert "labels" not in nothing


def test_exception_already_rendered_by_structlog() -> None:
    """format_exc_info's text, or dict_tracebacks' list as JSON text, is error.stack_trace."""
    for processor in (structlog.processors.format_exc_info, structlog.processors.dict_tracebacks):
        renderer = JsonRenderer()
        out = configure(renderer, [*CHAIN, processor])
        try:
            fail(8)
        except RuntimeError:
            structlog.get_logger().exception("failed")
        (document,) = documents(out, Contract(renderer.schema))
        stack = document["error"]["stack_trace"]
        assert "KeyError" in stack
        assert "order 8 failed" in stack
        assert "labels" not in document
        if processor is structlog.processors.dict_tracebacks:
            assert json.loads(stack)[0]["exc_type"] == "RuntimeError"


def test_sentry_event_id() -> None:
    """``sentry_event_id`` is sentry.event_id, not a label; without it no sentry member."""
    renderer = JsonRenderer()
    out = configure(renderer)
    log = structlog.get_logger()
    log.error("sent", sentry_event_id="a" * 32)
    log.error("not sent")
    sent, not_sent = documents(out, Contract(renderer.schema))
    assert sent["sentry"] == {"event_id": "a" * 32}
    assert "labels" not in sent
    assert "sentry" not in not_sent


def test_secrets_are_scrubbed_in_keys_message_and_repeats() -> None:
    """A secret key's value, a credential in the message, and the same secret elsewhere."""
    renderer = JsonRenderer()
    out = configure(renderer)
    structlog.get_logger().info(
        "login via Bearer brr-G7h2j-bearer with card 4012 8888 8888 1881",
        password="lbl-Q7m2f-password",
        echo="the password was lbl-Q7m2f-password",
        harmless="order 7",
    )
    line = out.getvalue()
    assert "brr-G7h2j-bearer" not in line
    assert "4012 8888 8888 1881" not in line
    assert "lbl-Q7m2f-password" not in line
    (document,) = documents(out, Contract(renderer.schema))
    assert document["message"] == f"login via Bearer {MARKER} with card {MARKER}"
    assert document["labels"]["password"] == MARKER
    assert document["labels"]["echo"] == f"the password was {MARKER}"
    assert document["labels"]["harmless"] == "order 7"


def test_scrub_options_and_scrub_false() -> None:
    """scrub_keys adds a secret key; scrub=False writes values as they are."""
    event = {"event": "m", "ssn": "123-45-6789", "password": "pw-1"}
    own = strict_loads(JsonRenderer(scrub_keys=["ssn"])(None, "info", event))
    assert own["labels"] == {"ssn": MARKER, "password": MARKER}
    off = strict_loads(JsonRenderer(scrub=False)(None, "info", event))
    assert off["labels"] == {"ssn": "123-45-6789", "password": "pw-1"}


def test_the_event_dict_is_not_changed() -> None:
    """Rendering leaves the event dict as it was: same keys, same values, same objects."""
    try:
        fail(9)
    except RuntimeError:
        exc_info = sys.exc_info()
    nested = {"b": [1, 2], "password": "x"}
    event = {
        "event": "m",
        "level": "error",
        "timestamp": "2024-05-01T12:00:00.123456Z",
        "exc_info": exc_info,
        "a": nested,
        "password": "hunter2",
        "x.y": 1,
    }
    before = copy.deepcopy({k: v for k, v in event.items() if k != "exc_info"})
    JsonRenderer(fields={"order_id": "long"}, defaults={"region": "eu"})(None, "error", event)
    assert {k: v for k, v in event.items() if k != "exc_info"} == before
    assert event["exc_info"] is exc_info
    assert event["a"] is nested
    assert list(event) == ["event", "level", "timestamp", "exc_info", "a", "password", "x.y"]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class HostileMapping(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("no get")


def test_unprintable_values_and_a_broken_event_dict_still_give_a_line() -> None:
    """A value whose str and repr raise is a placeholder label; a dict that breaks is a line."""
    renderer = JsonRenderer()
    contract = Contract(renderer.schema)
    out = configure(renderer)
    structlog.get_logger().info(Unprintable(), value=Unprintable(), level_=Unprintable())
    (document,) = documents(out, contract)
    assert document["message"] == "<unprintable Unprintable>"
    assert document["labels"]["value"] == "<unprintable Unprintable>"
    broken = contract.check(renderer(None, "info", HostileMapping(event="m")))
    assert "formatter_error" in broken["labels"]
    assert broken["log"]["level"] == "info"
    not_a_dict = contract.check(renderer(None, "info", "just text"))  # type: ignore[arg-type]
    assert not_a_dict["message"] == "just text"


def test_one_type_per_path_whatever_the_values() -> None:
    """A key that is a number, then a string, then a dict, then None: one JSON type each time."""
    renderer = JsonRenderer(fields={"order_id": "long"})
    contract = Contract(renderer.schema)
    out = configure(renderer)
    log = structlog.get_logger()
    for value in (17, "seventeen", {"n": 17}, None, [1, "a"], 1.5, True, 2**70):
        log.info("x", order_id=value, other=value)
    kinds: dict[str, set[str]] = {}
    for document in documents(out, contract):
        for path, kind in key_paths(document).items():
            kinds.setdefault(path, set()).add(kind)
    assert all(len(found) == 1 for found in kinds.values()), kinds
    assert kinds["order_id"] == {"integer"}
    assert kinds["order_id_raw"] == {"string"}
    assert kinds["labels.*"] == {"string"}


HOSTILE = JsonRenderer(service_name="orders", fields=DECLARED, max_length=200)
HOSTILE_CONTRACT = Contract(HOSTILE.schema)
OWN_KEYS = ["level", "timestamp", "logger", "exc_info", "exception", "stack_info"]


@PROFILE
@given(
    events=st.lists(
        st.tuples(extras, st.dictionaries(st.sampled_from(OWN_KEYS), values), st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_hostile_values_never_break_the_contract(
    events: list[tuple[dict[str, Any], dict[str, Any], bool]],
) -> None:
    """Hostile bound values, also under the keys the renderer reads: the contract holds."""
    out = io.StringIO()
    structlog.configure(
        processors=[*CHAIN, HOSTILE], logger_factory=structlog.WriteLoggerFactory(out)
    )
    try:
        for extra, own, with_exception in events:
            bound = structlog.get_logger().bind(**{**extra, **own})
            if with_exception:
                try:
                    raise ValueError("failed")
                except ValueError:
                    bound.exception("msg x")
            else:
                bound.error("msg x")
    finally:
        structlog.reset_defaults()
    lines = out.getvalue().split("\n")[:-1]
    assert len(lines) == len(events)
    for line in lines:
        document = HOSTILE_CONTRACT.check(line)
        # Written as encoding the whole document would write it.
        assert render_module._dumps(document) == line


def test_bad_options_raise_at_construction_naming_them() -> None:
    """A bad option raises what JsonFormatter raises for it; a key the renderer reads too."""
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"service_name": 5}, TypeError, "service_name"),
        ({"max_length": 10}, ValueError, "max_length"),
        ({"fields": {"order_id": "bigint"}}, ValueError, "fields"),
        ({"scrub": "yes"}, TypeError, "scrub"),
        ({"scrub_patterns": ["("]}, ValueError, "scrub_patterns"),
    ]
    for options, error, name in cases:
        with pytest.raises(error) as ours:
            JsonRenderer(**options)
        with pytest.raises(error) as theirs:
            JsonFormatter(**options)
        assert str(ours.value) == str(theirs.value)
        assert name in str(ours.value)
    with pytest.raises(ValueError, match="fields: 'level'"):
        JsonRenderer(fields={"level": "keyword"})
    with pytest.raises(ValueError, match="defaults: 'timestamp'"):
        JsonRenderer(defaults={"timestamp": 1})


def test_defaults_and_pickling() -> None:
    """defaults fill keys an event lacks; a pickled renderer writes the same line."""
    renderer = JsonRenderer(service_name="orders", defaults={"region": "eu", "team": "core"})
    event = {"event": "m", "timestamp": 1714564800.0, "team": "payments"}
    line = renderer(None, "info", event)
    assert strict_loads(line)["labels"] == {"team": "payments", "region": "eu"}
    assert pickle.loads(pickle.dumps(renderer))(None, "info", event) == line


@pytest.fixture
def processor_formatter() -> Iterator[tuple[logging.Logger, io.StringIO, JsonRenderer]]:
    """A stdlib logger whose handler formats with ProcessorFormatter and JsonRenderer."""
    renderer = JsonRenderer(service_name="orders", fields={"order_id": "long"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[renderer], foreign_pre_chain=[structlog.processors.add_log_level]
        )
    )
    logger_class = logging.getLoggerClass()
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    # Made after LoggerFactory set its logger class, whose records name the
    # caller of structlog, as an application's loggers (made on first use) do.
    logger = logging.getLogger("tests.structlog_json")
    logging.setLoggerClass(logger_class)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, renderer
    logger.removeHandler(handler)
    logger.propagate = True


def test_inside_processor_formatter(
    processor_formatter: tuple[logging.Logger, io.StringIO, JsonRenderer],
) -> None:
    """structlog and foreign stdlib records: logger, level, origin from the record; no meta keys."""
    logger, stream, renderer = processor_formatter
    structlog.get_logger("tests.structlog_json").warning("from structlog", order_id="5")
    structlog_line = sys._getframe().f_lineno - 1
    try:
        fail(3)
    except RuntimeError:
        logger.exception("foreign %s", "record", extra={"order_id": 6, "region": "eu"})
    mine, foreign = documents(stream, Contract(renderer.schema))
    for document in (mine, foreign):
        assert document["log"]["logger"] == "tests.structlog_json"
        assert document["log"]["origin"]["file"]["name"] == Path(__file__).name
        assert document["log"]["origin"]["function"] == "test_inside_processor_formatter"
        assert "_record" not in document.get("labels", {})
        assert "_from_structlog" not in document.get("labels", {})
    assert mine["log"]["level"] == "warning"
    assert mine["log"]["origin"]["file"]["line"] == structlog_line
    assert mine["message"] == "from structlog"
    assert mine["order_id"] == 5
    assert "labels" not in mine
    assert foreign["log"]["level"] == "error"
    assert foreign["message"] == "foreign record"
    assert foreign["order_id"] == 6
    assert foreign["labels"] == {"region": "eu"}
    assert "KeyError: 3" in foreign["error"]["stack_trace"]


def test_a_foreign_record_gives_json_formatters_line(
    processor_formatter: tuple[logging.Logger, io.StringIO, JsonRenderer],
) -> None:
    """A stdlib record through ProcessorFormatter + JsonRenderer is JsonFormatter's line."""
    logger, stream, _ = processor_formatter
    formatter = JsonFormatter(service_name="orders", fields={"order_id": "long"})
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.info("stock %d", 4, extra={"order_id": "8", "sku": "X-1"}, stack_info=True)
    finally:
        logger.removeHandler(keep)
    (record,) = seen
    ours = strict_loads(stream.getvalue())
    assert ours == strict_loads(formatter.format(record))
    assert ours["error"]["stack_trace"].startswith("Stack (most recent call last):")


def test_importing_does_not_import_structlog() -> None:
    """structlog stays optional: the package and JsonRenderer's module import and run without it."""
    source = textwrap.dedent(
        """
        import sys
        import sentry_logging_std
        from sentry_logging_std import JsonRenderer
        line = JsonRenderer()(None, "info", {"event": "m", "k": 1})
        assert "structlog" not in sys.modules, "structlog imported"
        assert "sentry_sdk" not in sys.modules, "sentry_sdk imported"
        print(line)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["labels"] == {"k": "1"}
