"""SentryHandler: what arrives at the transport for each kind of record."""

from __future__ import annotations

import builtins
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sentry_sdk

from sentry_logging_std import SentryHandler
from sentry_logging_std._capture import event_id_for

from .conftest import TEST_DSN, CapturingTransport, MakeHandler, shown_message


class OrderError(Exception):
    pass


def place_order(order_id: int) -> None:
    try:
        stock: dict[str, int] = {}
        stock["widgets"] += 1
    except KeyError as exc:
        raise OrderError(f"order {order_id} out of stock") from exc


def frames_of(value: dict[str, Any]) -> list[str]:
    return [frame["function"] for frame in value["stacktrace"]["frames"]]


def test_exception_record_carries_the_whole_chain(make_handler: MakeHandler) -> None:
    """logger.exception sends the cause and the raised error, each with frames."""
    _, transport = make_handler()
    log = logging.getLogger("tests.app")
    try:
        place_order(7)
    except OrderError:
        log.exception("order %s failed", 7)
    (event,) = transport.events
    values = event["exception"]["values"]
    assert [v["type"] for v in values] == ["KeyError", "OrderError"]
    assert frames_of(values[0])[-1] == "place_order"
    assert frames_of(values[1])[-2:] == [
        "test_exception_record_carries_the_whole_chain",
        "place_order",
    ]
    assert values[1]["value"] == "order 7 out of stock"
    assert event["level"] == "error"
    assert event["logger"] == "tests.app"


def test_implicit_context_is_part_of_the_chain(make_handler: MakeHandler) -> None:
    """An exception raised while handling another keeps the first as context."""
    _, transport = make_handler()
    try:
        try:
            int("x")
        except ValueError:
            raise RuntimeError("while parsing")  # noqa: B904 - implicit context on purpose
    except RuntimeError:
        logging.getLogger("tests.app").error("parse failed", exc_info=True)
    (event,) = transport.events
    assert [v["type"] for v in event["exception"]["values"]] == ["ValueError", "RuntimeError"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_exception_groups_send_every_member(make_handler: MakeHandler) -> None:
    """An ExceptionGroup arrives with each of its exceptions."""
    _, transport = make_handler()
    group_type: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009 - absent before 3.11
    try:
        raise group_type("two failures", [ValueError("a"), TypeError("b")])
    except Exception:
        logging.getLogger("tests.app").exception("batch failed")
    (event,) = transport.events
    types = sorted(v["type"] for v in event["exception"]["values"])
    assert types == ["ExceptionGroup", "TypeError", "ValueError"]


@pytest.mark.parametrize(
    "exc_info_kind", ["true", "tuple", "instance"], ids=["True", "tuple", "exception"]
)
def test_every_form_of_exc_info_is_understood(
    make_handler: MakeHandler, exc_info_kind: str
) -> None:
    """exc_info=True, a sys.exc_info() tuple and an exception object all send the exception."""
    _, transport = make_handler()
    log = logging.getLogger("tests.app")
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        exc_info: Any = {"true": True, "tuple": sys.exc_info(), "instance": exc}[exc_info_kind]
        log.error("failed", exc_info=exc_info)
    (event,) = transport.events
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"


def test_template_and_arguments_group_many_orders_as_one(make_handler: MakeHandler) -> None:
    """Two orders failing send the same template with different arguments."""
    _, transport = make_handler()
    log = logging.getLogger("tests.app")
    for order_id in (7, 8):
        log.error("order %s failed for %s", order_id, "alice")
    first, second = transport.events
    assert first["logentry"] == {
        "message": "order %s failed for %s",
        "params": [7, "alice"],
        "formatted": "order 7 failed for alice",
    }
    assert second["logentry"]["message"] == first["logentry"]["message"]
    assert second["logentry"]["formatted"] == "order 8 failed for alice"


def test_mapping_arguments_are_kept(make_handler: MakeHandler) -> None:
    """A %(name)s template keeps its mapping of arguments."""
    _, transport = make_handler()
    logging.getLogger("tests.app").error("order %(id)s failed", {"id": 7})
    (event,) = transport.events
    assert event["logentry"]["params"] == {"id": 7}
    assert event["logentry"]["formatted"] == "order 7 failed"


def log_error_without_exception() -> None:
    logging.getLogger("tests.app").error("no exception here")


def test_error_without_exception_has_the_callers_stack(make_handler: MakeHandler) -> None:
    """The stack starts at the log call, with no frame of logging or this library."""
    _, transport = make_handler()
    log_error_without_exception()
    (event,) = transport.events
    assert "exception" not in event
    (thread,) = event["threads"]["values"]
    frames = thread["stacktrace"]["frames"]
    assert frames[-1]["function"] == "log_error_without_exception"
    assert frames[-2]["function"] == "test_error_without_exception_has_the_callers_stack"
    modules = {frame.get("module") or "" for frame in frames}
    assert not any(m == "logging" or m.startswith("sentry_logging_std") for m in modules)


def test_attach_stacktrace_off_sends_no_stack(make_handler: MakeHandler) -> None:
    """attach_stacktrace=False leaves a plain error record without a stack."""
    _, transport = make_handler(attach_stacktrace=False)
    log_error_without_exception()
    (event,) = transport.events
    assert "threads" not in event
    assert "exception" not in event


def test_tags_fingerprint_user_and_context(make_handler: MakeHandler) -> None:
    """Configured and per-record tags, fingerprint, user, tag_keys arrive; the rest is context."""
    _, transport = make_handler(tags={"service": "orders"}, tag_keys=["order_id"])
    extra = {
        "tags": {"region": "eu-1", "service": "orders-eu"},
        "fingerprint": ["orders", "stock"],
        "user": {"id": "u-1"},
        "order_id": 7,
        **{f"field_{i}": i for i in range(15)},
    }
    logging.getLogger("tests.app").error("order failed", extra=extra)
    (event,) = transport.events
    assert event["tags"] == {"service": "orders-eu", "region": "eu-1", "order_id": "7"}
    assert event["fingerprint"] == ["orders", "stock"]
    assert event["user"] == {"id": "u-1"}
    context = event["contexts"]["extra"]
    assert context == {f"field_{i}": i for i in range(15)}  # not cut to 10 keys
    assert event["contexts"]["log"]["function"] == "test_tags_fingerprint_user_and_context"


def test_tag_keys_and_values_are_made_valid(make_handler: MakeHandler) -> None:
    """Tag keys become [a-zA-Z0-9_.:-]{1,32}; values one line of at most 200 characters."""
    _, transport = make_handler(tags={"bad key/with spaces": "line1\nline2"})
    logging.getLogger("tests.app").error("x", extra={"tags": {"k" * 40: "v" * 300, "ok": None}})
    (event,) = transport.events
    tags = event["tags"]
    assert tags["bad_key_with_spaces"] == "line1 line2"
    assert tags["k" * 32] == "v" * 197 + "..."
    assert tags["ok"] == "None"


def test_lower_records_become_breadcrumbs(make_handler: MakeHandler) -> None:
    """INFO and WARNING become breadcrumbs of the next event; DEBUG (below INFO) does not."""
    _, transport = make_handler()
    log = logging.getLogger("tests.app")
    log.debug("too low")
    log.info("loaded %d items", 3, extra={"cart": "c-1"})
    log.warning("slow")
    log.error("failed")
    (event,) = transport.events
    crumbs = event["breadcrumbs"]["values"]
    assert [(c["message"], c["level"]) for c in crumbs] == [
        ("loaded 3 items", "info"),
        ("slow", "warning"),
    ]
    assert crumbs[0]["category"] == "tests.app"
    assert crumbs[0]["data"] == {"cart": "c-1"}


def test_levels_are_configurable(make_handler: MakeHandler) -> None:
    """event_level=WARNING sends warnings as events; breadcrumb_level=DEBUG keeps debug crumbs."""
    _, transport = make_handler(event_level="WARNING", breadcrumb_level="DEBUG")
    log = logging.getLogger("tests.app")
    log.debug("detail")
    log.warning("careful")
    (event,) = transport.events
    assert event["level"] == "warning"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["detail"]


def test_critical_is_fatal(make_handler: MakeHandler) -> None:
    """CRITICAL maps to Sentry's fatal level."""
    _, transport = make_handler()
    logging.getLogger("tests.app").critical("down")
    (event,) = transport.events
    assert event["level"] == "fatal"


def test_event_id_is_the_records_id(make_handler: MakeHandler) -> None:
    """The event id sent is the one event_id_for(record) gives, for a formatter to print."""
    _, transport = make_handler()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("tests.app")
    log.addHandler(Keep())
    log.error("failed")
    (event,) = transport.events
    assert event["event_id"] == event_id_for(records[0])


def test_other_handlers_get_the_original_record(make_handler: MakeHandler) -> None:
    """The record a later handler sees is exactly the one logged, unchanged."""
    make_handler()
    seen: list[dict[str, Any]] = []

    class Snapshot(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(dict(record.__dict__))

    log = logging.getLogger("tests.app")
    log.addHandler(Snapshot())
    record = log.makeRecord(
        "tests.app",
        logging.ERROR,
        __file__,
        1,
        "m %s",
        (1,),
        None,
        extra={"tags": {"a": "b"}, "x": 1},
    )
    before = dict(record.__dict__)
    log.handle(record)
    assert seen == [before]
    assert record.__dict__ == before


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_bad_records_still_arrive(make_handler: MakeHandler) -> None:
    """Wrong argument counts and unprintable values never cost the event."""
    _, transport = make_handler(tag_keys=["weird"])
    log = logging.getLogger("tests.app")
    log.error("two %s %s", "args")
    log.error(Hostile(), extra={"weird": Hostile(), "also": Hostile()})
    first, second = transport.events
    assert first["logentry"]["formatted"] == "two %s %s ('args',)"
    assert second["tags"]["weird"] == "<unprintable Hostile>"
    assert second["logentry"]["message"] == "<unprintable Hostile>"


class HostileMapping(Mapping[str, Any]):
    """A mapping that cannot be read."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no keys")

    def __len__(self) -> int:
        return 1


@pytest.mark.parametrize("capture", ["sync", "background"])
@pytest.mark.parametrize("flood_limit", [0, 20])
def test_unreadable_parts_are_left_out_and_counted(
    make_handler: MakeHandler, capture: str, flood_limit: int
) -> None:
    """A fingerprint, tag key, tags or user that cannot be read never costs the record
    (nor reaches ``handleError``): the event goes without that part, and it is counted."""
    handler, transport = make_handler(capture=capture, flood_limit=flood_limit)
    failed: list[logging.LogRecord] = []
    handler.handleError = failed.append  # type: ignore[method-assign,assignment]
    log = logging.getLogger("tests.app")
    log.error("fingerprint", extra={"fingerprint": ["checkout", Hostile()]})
    log.error("tag key", extra={"tags": {Hostile(): "x", "kept": "yes"}})
    log.error("tags", extra={"tags": HostileMapping()})
    log.error("user", extra={"user": HostileMapping()})
    events = transport.events
    assert failed == []
    assert [shown_message(e) for e in events] == [
        "fingerprint",
        "tag key",
        "tags",
        "user",
    ]
    assert "fingerprint" not in events[0]
    assert events[1]["tags"] == {"kept": "yes"}
    assert "user" not in events[3]
    assert handler.stats()["dropped_unreadable_fields"] == 4


def test_no_dsn_starts_nothing_and_builds_nothing() -> None:
    """With no DSN anywhere, records are ignored and no client starts."""
    built: list[Any] = []
    handler = SentryHandler(before_send=lambda event, hint: built.append(event))
    log = logging.getLogger("tests.nodsn")
    log.addHandler(handler)
    try:
        log.error("nothing to send to")
        assert handler.init() is False
        assert not handler.running
        assert not sentry_sdk.get_client().is_active()
        assert built == []
    finally:
        log.removeHandler(handler)


def test_sentry_dsn_variable_is_honoured(
    monkeypatch: pytest.MonkeyPatch, transport: CapturingTransport
) -> None:
    """SENTRY_DSN, SENTRY_ENVIRONMENT and SENTRY_RELEASE fill options not given."""
    monkeypatch.setenv("SENTRY_DSN", TEST_DSN)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    monkeypatch.setenv("SENTRY_RELEASE", "orders@9")
    handler = SentryHandler(transport=transport, release="orders@1")
    log = logging.getLogger("tests.env")
    log.addHandler(handler)
    try:
        log.error("failed")
    finally:
        log.removeHandler(handler)
    (event,) = transport.events
    assert event["environment"] == "staging"
    assert event["release"] == "orders@1"


def test_before_send_sees_the_event(make_handler: MakeHandler) -> None:
    """before_send runs on the handler's events and can change them."""

    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("tags", {})["seen"] = "yes"
        return event

    _, transport = make_handler(before_send=before_send)
    logging.getLogger("tests.app").error("failed")
    (event,) = transport.events
    assert event["tags"]["seen"] == "yes"


def test_client_options_reach_the_event(make_handler: MakeHandler) -> None:
    """environment, release and server_name from the handler are on the event."""
    _, transport = make_handler(
        environment="production", release="orders@1.4.2", server_name="host-1"
    )
    logging.getLogger("tests.app").error("failed")
    (event,) = transport.events
    assert (event["environment"], event["release"], event["server_name"]) == (
        "production",
        "orders@1.4.2",
        "host-1",
    )


def test_scope_tags_and_user_are_on_the_event(make_handler: MakeHandler) -> None:
    """What the application put on the scope travels with the event."""
    _, transport = make_handler()
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("request_id", "r-1")
        scope.set_user({"id": "u-9"})
        logging.getLogger("tests.app").error("failed")
    (event,) = transport.events
    assert event["tags"]["request_id"] == "r-1"
    assert event["user"] == {"id": "u-9"}
