"""Bounded events: strings, data and the whole event cut to what Sentry accepts, and marked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from loguru import logger

from sentry_logging_std import SentryHandler, SentrySink
from sentry_logging_std._bound import (
    DEFAULT_LIMITS,
    SCRUB_MARGIN,
    bound_event,
    fit_event,
    json_size,
)
from sentry_logging_std._capture import LogEntry
from sentry_logging_std._handler import entry_from_record

from .conftest import TEST_DSN, CapturingTransport, MakeHandler

TEN_MB = 10 * 1024 * 1024
LIMIT = DEFAULT_LIMITS.string_length


def sent_size(event: dict[str, Any]) -> int:
    """Bytes of *event* as sentry-sdk writes it into the envelope."""
    return len(json.dumps(event, separators=(",", ":")))


def mark(event: dict[str, Any], *path: str) -> dict[str, Any]:
    """The ``_meta`` entry of the value at *path*."""
    node = event["_meta"]
    for part in path:
        node = node[part]
    entry: dict[str, Any] = node[""]
    return entry


def assert_cut(value: str, entry: dict[str, Any], original: int, limit: int = LIMIT) -> None:
    """*value* was cut from *original* characters to at most *limit*, and marked so.

    sentry-sdk 2.0 cuts every string to 1024 bytes itself (remark ``x``); this
    library cuts as Relay does (remark ``s``). Either way the mark keeps the
    original length and says where the string now ends.
    """
    assert len(value) <= limit
    assert value.endswith("...")
    assert entry["len"] == original
    ((rule, kind, start, end),) = entry["rem"]
    assert (rule, end) == ("!limit", len(value))
    assert kind in ("s", "x")
    assert start == end - 3


def test_a_10_mb_message_arrives_cut_and_marked(make_handler: MakeHandler) -> None:
    """A 10 MB message arrives as at most 8192 characters, its original length in _meta."""
    _, transport = make_handler()
    message = "m" * TEN_MB
    logging.getLogger("tests.app").error(message)
    (event,) = transport.events
    assert sent_size(event) < DEFAULT_LIMITS.event_bytes
    assert set(event["logentry"]) == {"message"}
    assert_cut(event["logentry"]["message"], mark(event, "logentry", "message"), TEN_MB)


def test_a_10_mb_extra_value_arrives_cut_and_marked(make_handler: MakeHandler) -> None:
    """A 10 MB value in extra, and one nested in a list of it, arrive cut and marked."""
    _, transport = make_handler()
    blob = "b" * TEN_MB
    logging.getLogger("tests.app").error("upload failed", extra={"blob": blob, "parts": [blob]})
    (event,) = transport.events
    assert sent_size(event) < DEFAULT_LIMITS.event_bytes
    extra = event["contexts"]["extra"]
    assert_cut(extra["blob"], mark(event, "contexts", "extra", "blob"), TEN_MB)
    assert_cut(extra["parts"][0], mark(event, "contexts", "extra", "parts", "0"), TEN_MB)


def test_a_10_mb_argument_is_cut_in_params_and_formatted(make_handler: MakeHandler) -> None:
    """An argument of 10 MB is cut both as a parameter and in the formatted message."""
    _, transport = make_handler()
    logging.getLogger("tests.app").error("payload %s", "p" * TEN_MB)
    (event,) = transport.events
    assert sent_size(event) < DEFAULT_LIMITS.event_bytes
    logentry = event["logentry"]
    assert logentry["message"] == "payload %s"
    assert logentry["formatted"].startswith("payload ppp")
    assert_cut(logentry["formatted"], mark(event, "logentry", "formatted"), TEN_MB + 8)
    assert_cut(logentry["params"][0], mark(event, "logentry", "params", "0"), TEN_MB)


def test_an_application_client_gets_the_message_bounded() -> None:
    """On a client the application started, the message is cut when the event is built."""
    transport = CapturingTransport()
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)
    log = logging.getLogger("tests.own_client")
    log.propagate = False
    handler = SentryHandler()
    log.addHandler(handler)
    try:
        log.error("a" * TEN_MB, extra={"blob": "b" * TEN_MB})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    (event,) = transport.events
    assert len(event["logentry"]["message"]) <= LIMIT + SCRUB_MARGIN
    assert len(event["contexts"]["extra"]["blob"]) <= LIMIT + SCRUB_MARGIN


def test_lists_and_dicts_keep_their_first_entries(make_handler: MakeHandler) -> None:
    """Data longer than items keeps its first entries; the mark has the original count."""
    _, transport = make_handler(limits={"items": 3})
    many = {f"k{n}": n for n in range(10)}
    logging.getLogger("tests.app").error("x", extra={"numbers": list(range(10)), "many": many})
    (event,) = transport.events
    extra = event["contexts"]["extra"]
    assert extra["numbers"] == [0, 1, 2]
    assert mark(event, "contexts", "extra", "numbers") == {"len": 10}
    assert extra["many"] == {"k0": 0, "k1": 1, "k2": 2}
    assert mark(event, "contexts", "extra", "many") == {"len": 10}


def test_the_limits_option_changes_the_limits(make_handler: MakeHandler) -> None:
    """limits={"string_length": 100} cuts strings to 100 characters, as Relay would."""
    handler, transport = make_handler(limits={"string_length": 100})
    assert handler.options.limits.string_length == 100
    assert handler.options.limits.event_bytes == DEFAULT_LIMITS.event_bytes
    logging.getLogger("tests.app").error("x" * 5000)
    (event,) = transport.events
    assert event["logentry"]["message"] == "x" * 97 + "..."
    assert mark(event, "logentry", "message") == {"len": 5000, "rem": [["!limit", "s", 97, 100]]}


@pytest.mark.parametrize(
    ("limits", "error", "names"),
    [
        (5, TypeError, "limits"),
        ({"string_length": 3}, ValueError, "limits.string_length"),
        ({"items": 0}, ValueError, "limits.items"),
        ({"event_bytes": "lots"}, TypeError, "limits.event_bytes"),
        ({"event_bytes": True}, TypeError, "limits.event_bytes"),
        ({"itmes": 5}, TypeError, "'items'"),
    ],
)
def test_a_bad_limit_fails_at_construction_naming_it(
    limits: Any, error: type[Exception], names: str
) -> None:
    """Each bad limit fails building the handler, and the error names it."""
    with pytest.raises(error, match=names):
        SentryHandler(limits=limits)


@pytest.mark.parametrize(
    ("call", "logentry"),
    [
        (("plain failure",), {"message": "plain failure"}),
        (("100% failed",), {"message": "100% failed"}),
        (
            ("order %s failed", 7),
            {"message": "order %s failed", "params": [7], "formatted": "order 7 failed"},
        ),
        (("%s", "same"), {"message": "%s", "params": ["same"], "formatted": "same"}),
    ],
)
def test_the_message_is_sent_once_when_it_is_the_template(
    make_handler: MakeHandler, call: tuple[Any, ...], logentry: dict[str, Any]
) -> None:
    """Without arguments only logentry.message goes; params and formatted only with arguments."""
    _, transport = make_handler()
    logging.getLogger("tests.app").error(*call)
    (event,) = transport.events
    assert event["logentry"] == logentry


@pytest.fixture
def loguru_transport(transport: CapturingTransport) -> Iterator[CapturingTransport]:
    logger.remove()
    logger.add(SentrySink(dsn=TEST_DSN, transport=transport), level="ERROR")
    yield transport
    logger.remove()


def test_loguru_sends_the_message_once_too(loguru_transport: CapturingTransport) -> None:
    """loguru's messages follow the same rule: formatted only when it is not the template."""
    logger.error("plain failure")
    logger.error("order {} failed", 7)
    first, second = loguru_transport.events
    assert first["logentry"] == {"message": "plain failure"}
    assert second["logentry"] == {
        "message": "order {} failed",
        "params": [7],
        "formatted": "order 7 failed",
    }


def test_huge_breadcrumbs_and_frame_variables_still_fit(make_handler: MakeHandler) -> None:
    """Breadcrumbs with big data and frames with big variables are dropped to fit, and marked."""
    limit = 400_000
    _, transport = make_handler(limits={"event_bytes": limit}, max_breadcrumbs=100)
    log = logging.getLogger("tests.app")
    for n in range(100):
        log.info("step %d", n, extra={f"field{k}": f"{n}-{k}-" + "d" * 900 for k in range(10)})

    def deep(level: int) -> None:
        here = [str(level) * 900 for _ in range(8)]  # variables of this frame
        if level:
            deep(level - 1)
        raise ValueError(f"at the bottom, {len(here)} variables up")

    try:
        deep(5)
    except ValueError:
        log.exception("order failed")
    (event,) = transport.events
    assert sent_size(event) <= limit
    crumbs = event["breadcrumbs"]["values"]
    dropped = [n for n, crumb in enumerate(crumbs) if crumb.get("data") is None]
    assert dropped == list(range(len(dropped)))  # the oldest first
    assert dropped
    for n in dropped:
        assert mark(event, "breadcrumbs", "values", str(n), "data") == {"rem": [["!limit", "x"]]}
    assert crumbs[-1]["data"]  # the newest kept theirs
    assert event["exception"]["values"][-1]["type"] == "ValueError"


def test_frame_variables_go_outermost_first(make_handler: MakeHandler) -> None:
    """Without breadcrumbs to drop, frame variables go, from the outermost frame in."""
    limit = 30_000  # the event is about 50 KB, six frames of 7 KB of variables
    _, transport = make_handler(limits={"event_bytes": limit})

    def deep(level: int) -> None:
        here = [str(level) * 900 for _ in range(8)]  # noqa: F841 - shown as the frame's vars
        if level:
            deep(level - 1)
        raise ValueError("at the bottom")

    try:
        deep(5)
    except ValueError:
        logging.getLogger("tests.app").exception("order failed")
    (event,) = transport.events
    assert sent_size(event) <= limit
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    gone = [n for n, frame in enumerate(frames) if "vars" in frame and frame["vars"] is None]
    assert gone == list(range(len(gone)))
    assert gone
    assert frames[-1]["vars"]  # the frame that raised kept its variables
    path = ("exception", "values", str(len(event["exception"]["values"]) - 1), "stacktrace")
    assert mark(event, *path, "frames", "0", "vars") == {"rem": [["!limit", "x"]]}


def test_the_applications_objects_are_never_changed(make_handler: MakeHandler) -> None:
    """What is cut is a copy: the dicts and lists the application logged keep all they hold."""
    _, transport = make_handler(limits={"items": 2})
    data = {"text": "t" * 20_000, "numbers": list(range(10))}
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    logging.getLogger("tests.app").error("x", extra={"data": data, "loop": loop})
    (event,) = transport.events
    assert len(data["text"]) == 20_000
    assert data["numbers"] == list(range(10))
    assert event["contexts"]["extra"]["data"]["numbers"] == [0, 1]
    assert event["contexts"]["extra"]["loop"]["name"] == "loop"


def test_immutable_arguments_are_formatted_later_and_mutable_ones_now() -> None:
    """Formatting waits for the worker only when nothing it is made of can change."""
    waits = logging.makeLogRecord({"msg": "a %s %d %r %s", "args": ("s", 1, b"b", None)})
    now = logging.makeLogRecord({"msg": "items %s", "args": ([1, 2],)})
    entry = entry_from_record(waits, with_stack=False)
    assert callable(entry.message)
    assert entry.formatted == waits.getMessage()
    kept: object = entry.message
    assert kept == entry.formatted  # made once, then kept
    assert entry_from_record(now, with_stack=False).message == "items [1, 2]"


class BraceRecord(logging.LogRecord):
    def getMessage(self) -> str:
        args = self.args if isinstance(self.args, tuple) else ()
        return str(self.msg).format(*args)


def test_a_record_with_its_own_formatting_is_formatted_now() -> None:
    """A LogRecord subclass's getMessage is honoured, during the call."""
    record = BraceRecord("tests.app", logging.ERROR, __file__, 1, "order {} failed", (7,), None)
    entry = entry_from_record(record, with_stack=False)
    assert entry.message == "order 7 failed"


def test_the_message_is_the_calls_whatever_happens_to_the_record(
    make_handler: MakeHandler,
) -> None:
    """A mutable argument changed after the call, or a later handler that rewrites the record
    (as QueueHandler.prepare did before Python 3.12), does not change the event's message."""

    class Rewriter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.msg, record.args = "rewritten", ()

    _, transport = make_handler()
    log = logging.getLogger("tests.app")
    rewriter = Rewriter()
    log.addHandler(rewriter)
    items = [1]
    try:
        log.error("order %s failed for %s", 7, "alice")
        log.error("items %s", items)
        items.append(2)
    finally:
        log.removeHandler(rewriter)
    first, second = transport.events
    assert first["logentry"]["formatted"] == "order 7 failed for alice"
    assert second["logentry"]["formatted"] == "items [1]"


# -- the event's size, on events as before_send sees them ----------------------------


def crumb(n: int, size: int) -> dict[str, Any]:
    return {"message": f"step {n}", "data": {"blob": "d" * size}}


def frame(n: int, size: int) -> dict[str, Any]:
    return {"function": f"f{n}", "vars": {"v": "v" * size}, "context_line": f"line {n}"}


def test_parts_go_in_the_documented_order() -> None:
    """Breadcrumbs' data, oldest first, go before any frame's variables."""
    event: dict[str, Any] = {
        "event_id": "e" * 32,
        "breadcrumbs": {"values": [crumb(n, 1000) for n in range(5)]},
        "exception": {"values": [{"stacktrace": {"frames": [frame(n, 1000) for n in range(3)]}}]},
    }
    meta: dict[str, Any] = {}
    size = json_size(event)
    assert size is not None
    assert fit_event(event, size - 2500, meta)
    assert json_size(event) <= size - 2500  # type: ignore[operator]
    crumbs = event["breadcrumbs"]["values"]
    assert [c["data"] is None for c in crumbs] == [True, True, True, False, False]
    assert all(f["vars"] for f in event["exception"]["values"][0]["stacktrace"]["frames"])
    assert set(meta["breadcrumbs"]["values"]) == {"0", "1", "2"}


def extra_and_crumbs() -> dict[str, Any]:
    return {
        "event_id": "e" * 32,
        "contexts": {"extra": {"small": "s" * 100, "big": "b" * 3000}},
        "breadcrumbs": {"values": [{"message": "m" * 1000} for _ in range(4)]},
    }


def test_extra_goes_biggest_first() -> None:
    """Past the data and the variables, extra's entries go, the biggest first."""
    event = extra_and_crumbs()
    size = json_size(event)
    assert size is not None
    assert fit_event(event, size - 2500, {})
    assert event["contexts"]["extra"] == {"small": "s" * 100, "big": None}
    assert len(event["breadcrumbs"]["values"]) == 4


def test_then_whole_breadcrumbs_go_oldest_first() -> None:
    """With all of extra gone, whole breadcrumbs go, the oldest first; the marks of those kept
    move with them, and the list's mark has its original length."""
    event = extra_and_crumbs()
    meta: dict[str, Any] = {"breadcrumbs": {"values": {"3": {"message": {"": {"len": 9}}}}}}
    size = json_size({**event, "_meta": meta})
    assert size is not None
    assert fit_event(event, size - 4500, meta)
    assert event["contexts"]["extra"] == {"small": None, "big": None}
    assert meta["contexts"]["extra"]["big"] == {"": {"rem": [["!limit", "x"]]}}
    assert len(event["breadcrumbs"]["values"]) == 2
    assert meta["breadcrumbs"]["values"] == {"1": {"message": {"": {"len": 9}}}, "": {"len": 4}}


def test_the_original_length_survives_every_cut() -> None:
    """A string cut when built (with the margin), then again: the mark keeps its first length."""
    event: dict[str, Any] = {"logentry": {"message": "x" * (LIMIT + SCRUB_MARGIN)}}
    carried = {"logentry": {"message": {"": {"len": TEN_MB, "rem": [["!limit", "s", 1, 2]]}}}}
    bound_event(event, {"sentry_logging_std.cut": carried}, DEFAULT_LIMITS)
    assert len(event["logentry"]["message"]) == LIMIT
    assert event["_meta"]["logentry"]["message"] == {
        "": {"len": TEN_MB, "rem": [["!limit", "s", LIMIT - 3, LIMIT]]}
    }


@pytest.mark.parametrize(
    "value",
    ["plain", "é", "€ and 中文", "😀", {"k": ["ü", 1.5, None, True]}, 'quote " and \n'],
)
def test_the_size_is_what_sentry_sdk_writes(value: Any) -> None:
    """json_size counts non-ASCII as sentry-sdk writes it: as \\u escapes."""
    assert json_size(value) == len(json.dumps(value, separators=(",", ":")))


def test_entries_keep_the_formatted_message_semantics() -> None:
    """LogEntry.formatted is the message: given as text, or made on first read."""
    given = LogEntry(None, "x", 40, "t", None, "text", 0.0)
    made = LogEntry(None, "x", 40, "t %s", None, lambda: "t made", 0.0)
    assert given.formatted == "text"
    assert made.formatted == "t made"
    assert made.message == "t made"
