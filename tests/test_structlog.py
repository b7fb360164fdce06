"""SentryProcessor: structlog calls through the same core as SentryHandler, with real structlog."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import structlog

from sentry_logging_std import JsonRenderer, SentryHandler, SentryProcessor

from .conftest import TEST_DSN, CapturingTransport, shown_message

Configure = Callable[..., tuple[SentryProcessor, io.StringIO]]


@pytest.fixture
def configure(transport: CapturingTransport) -> Iterator[Configure]:
    """structlog set up as a service would: context, level, the processor, JSON lines."""

    def make(**options: Any) -> tuple[SentryProcessor, io.StringIO]:
        options.setdefault("dsn", TEST_DSN)
        options.setdefault("transport", transport)
        processor = SentryProcessor(**options)
        out = io.StringIO()
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                processor,
                JsonRenderer(),
            ],
            logger_factory=structlog.WriteLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )
        return processor, out

    yield make
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


class PaymentError(Exception):
    pass


def charge(order: int) -> None:
    try:
        raise TimeoutError("gateway")
    except TimeoutError as exc:
        raise PaymentError(f"order {order} not charged") from exc


def test_exception_is_one_event_with_its_chain_context_and_breadcrumbs(
    configure: Configure, transport: CapturingTransport
) -> None:
    """log.exception sends the chain, the event dict's keys as context (tag_keys as tags),
    bound contextvars, the calls before it as breadcrumbs; the JSON line names the event."""
    processor, out = configure(tag_keys=["request_id"])
    log = structlog.get_logger("shop.orders")
    structlog.contextvars.bind_contextvars(request_id="r-1")
    log.info("cart loaded", items=3)
    try:
        charge(7)
    except PaymentError:
        log.exception("order failed", order_id=7)
    (event,) = transport.events
    assert [v["type"] for v in event["exception"]["values"]] == ["TimeoutError", "PaymentError"]
    assert event["exception"]["values"][-1]["stacktrace"]["frames"][-1]["function"] == "charge"
    assert shown_message(event) == "order failed"
    assert event["level"] == "error"
    assert event["tags"]["request_id"] == "r-1"
    assert event["contexts"]["extra"] == {"order_id": 7}
    assert event["contexts"]["log"]["function"] == (
        "test_exception_is_one_event_with_its_chain_context_and_breadcrumbs"
    )
    crumbs = event["breadcrumbs"]["values"]
    assert [c["message"] for c in crumbs] == ["cart loaded"]
    assert crumbs[0]["data"]["items"] == 3
    info, error = lines(out)
    assert "sentry" not in info
    assert error["sentry"]["event_id"] == event["event_id"] == processor.last_event_id
    assert error["error"]["type"].endswith("PaymentError")


def test_error_without_an_exception_and_exc_info_forms(
    configure: Configure, transport: CapturingTransport
) -> None:
    """log.error is an event; exc_info=True, an exception instance or a tuple each send it."""
    _, _ = configure()
    log = structlog.get_logger()
    log.error("disk full", disk="/var")
    try:
        charge(1)
    except PaymentError:
        log.error("with true", exc_info=True)
    try:
        charge(2)
    except PaymentError as exc:
        log.critical("with instance", exc_info=exc)
        log.warning("a warning with the tuple", exc_info=(type(exc), exc, exc.__traceback__))
    log.error("the last")
    events = transport.events
    assert [shown_message(e) for e in events] == [
        "disk full",
        "with true",
        "with instance",
        "the last",
    ]
    assert "exception" not in events[0]
    assert events[1]["exception"]["values"][-1]["type"] == "PaymentError"
    assert events[2]["level"] == "fatal"
    assert events[2]["exception"]["values"][-1]["value"] == "order 2 not charged"
    assert [c["message"] for c in events[3]["breadcrumbs"]["values"]] == [
        "a warning with the tuple"
    ]


def test_the_event_dict_passes_on_unchanged_but_for_the_event_id(
    configure: Configure, transport: CapturingTransport
) -> None:
    processor, _ = configure()
    info = {"event": "hello", "level": "info", "n": 1}
    assert processor(None, "info", dict(info)) == info
    error = {"event": "boom", "level": "error", "n": [1, 2]}
    passed = processor(None, "error", dict(error))
    event_id = passed.pop("sentry_event_id")
    assert passed == error
    (event,) = transport.events
    assert event["event_id"] == event_id


def test_a_dict_reported_already_is_not_reported_again(
    configure: Configure, transport: CapturingTransport
) -> None:
    """A second SentryProcessor in the chain, or a copy of a sent dict, sends nothing more."""
    processor, _ = configure()
    passed = processor(None, "error", {"event": "once", "level": "error"})
    processor(None, "error", dict(passed))
    assert len(transport.events) == 1


def test_hostile_values_never_raise_and_the_event_still_goes(
    configure: Configure, transport: CapturingTransport
) -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        __repr__ = __str__

    _, out = configure()
    log = structlog.get_logger()
    log.error(Hostile(), value=Hostile())
    log.error("fine after")
    events = transport.events
    assert len(events) == 2
    assert shown_message(events[1]) == "fine after"
    assert len(lines(out)) == 2


def test_bad_options_fail_at_construction_naming_the_option() -> None:
    with pytest.raises(TypeError, match="flood_limt"):
        SentryProcessor(dsn=TEST_DSN, flood_limt=3)
    with pytest.raises((TypeError, ValueError), match="event_level"):
        SentryProcessor(dsn=TEST_DSN, event_level="LOUD")


def test_flood_control_counts_what_it_holds_back(
    configure: Configure, transport: CapturingTransport
) -> None:
    processor, _ = configure(flood_limit=3, flood_window=60)
    log = structlog.get_logger()
    for n in range(10):
        log.error("same error", n=n)
    processor.flush()
    events = transport.events
    assert len(events) == 4
    assert events[-1]["contexts"]["flood_control"]["suppressed"] == 6
    assert processor.stats()["suppressed_flood"] == 6


def test_without_a_dsn_nothing_is_sent() -> None:
    processor = SentryProcessor()
    structlog.configure(
        processors=[processor, JsonRenderer()],
        logger_factory=structlog.WriteLoggerFactory(file=io.StringIO()),
    )
    log = structlog.get_logger()
    log.error("no dsn")
    assert not processor.running
    assert processor.last_event_id is None
    structlog.reset_defaults()


@pytest.mark.parametrize("bridge", ["wrap_for_formatter", "render_to_log_kwargs"])
def test_through_stdlib_a_sentry_handler_on_the_same_path_does_not_send_twice(
    transport: CapturingTransport, bridge: str
) -> None:
    """structlog.stdlib with a SentryHandler on the stdlib logger too: one event, and the
    handler's last_event_id is the processor's event. With wrap_for_formatter (the record
    carries the event dict itself) one breadcrumb per call too; render_to_log_kwargs
    makes a new record of the dict's keys, whose breadcrumb the handler adds again."""
    processor = SentryProcessor(dsn=TEST_DSN, transport=transport)
    handler = SentryHandler(dsn=TEST_DSN, transport=transport)
    stream = io.StringIO()
    output = logging.StreamHandler(stream)
    if bridge == "wrap_for_formatter":
        output.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    JsonRenderer(),
                ]
            )
        )
    std = logging.getLogger("tests.structlog.bridge")
    std.handlers[:] = [handler, output]
    std.setLevel(logging.DEBUG)
    std.propagate = False
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            processor,
            getattr(structlog.stdlib.ProcessorFormatter, bridge, None)
            or structlog.stdlib.render_to_log_kwargs,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("tests.structlog.bridge")
        log.info("step one")
        log.error("went wrong", order=3)
        events = transport.events
        assert len(events) == 1, [shown_message(e) for e in events]
        crumbs = [c["message"] for c in events[0]["breadcrumbs"]["values"]]
        assert crumbs == (["step one"] if bridge == "wrap_for_formatter" else ["step one"] * 2)
        assert handler.last_event_id == processor.last_event_id == events[0]["event_id"]
        if bridge == "wrap_for_formatter":
            line = json.loads(stream.getvalue().splitlines()[-1])
            assert line["sentry"]["event_id"] == events[0]["event_id"]
    finally:
        std.handlers[:] = []
        std.propagate = True
        handler.close()
        structlog.reset_defaults()


def test_a_plain_logging_call_is_reported_by_the_handler_only(
    transport: CapturingTransport,
) -> None:
    """SentryProcessor in ProcessorFormatter's foreign_pre_chain and a SentryHandler on the
    same logger: a plain logging call is one event."""
    processor = SentryProcessor(dsn=TEST_DSN, transport=transport)
    handler = SentryHandler(dsn=TEST_DSN, transport=transport)
    output = logging.StreamHandler(io.StringIO())
    output.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, processor],
            processors=[JsonRenderer()],
        )
    )
    std = logging.getLogger("tests.structlog.foreign")
    std.handlers[:] = [handler, output]
    std.propagate = False
    try:
        std.error("plain stdlib error")
        assert len(transport.events) == 1
    finally:
        std.handlers[:] = []
        std.propagate = True
        handler.close()


def test_the_example_sends_its_error_and_names_it_in_its_line() -> None:
    """examples/structlog_demo.py, run as a user would with SENTRY_DSN set."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from .envelope_server import envelope_server

    root = Path(__file__).resolve().parent.parent
    with envelope_server() as server:
        result = subprocess.run(
            [sys.executable, str(root / "examples" / "structlog_demo.py")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SENTRY_DSN": server.dsn(), "PYTHONPATH": str(root)},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(1, timeout=10)
        (event,) = server.events()
    info, error, said = result.stdout.splitlines()
    assert json.loads(info)["log"]["level"] == "info"
    assert json.loads(error)["sentry"]["event_id"] == event["event_id"]
    assert said == f"event id {event['event_id']}"
    assert [v["type"] for v in event["exception"]["values"]] == ["TimeoutError", "RuntimeError"]
    assert event["tags"]["request_id"] == "r-1"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["cart loaded"]
