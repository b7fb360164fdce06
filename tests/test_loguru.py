"""SentrySink: loguru records through the same core as SentryHandler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import sentry_sdk
from loguru import logger

from sentry_logging_std import SentrySink

from .conftest import TEST_DSN, CapturingTransport, shown_message
from .envelope_server import envelope_server

ROOT = Path(__file__).resolve().parent.parent

MakeSink = Callable[..., tuple[SentrySink, CapturingTransport]]


@pytest.fixture
def make_sink(transport: CapturingTransport) -> Iterator[MakeSink]:
    """A SentrySink alone on loguru's logger, sending to a capturing transport."""
    logger.remove()

    def make(add: Any = None, **options: Any) -> tuple[SentrySink, CapturingTransport]:
        options.setdefault("dsn", TEST_DSN)
        options.setdefault("transport", transport)
        sink = SentrySink(**options)
        logger.add(sink, **{"level": "TRACE", **(add or {})})
        return sink, transport

    yield make
    logger.remove()


class OrderError(Exception):
    pass


def fail(order_id: int) -> None:
    try:
        raise KeyError(order_id)
    except KeyError as exc:
        raise OrderError(f"order {order_id}") from exc


def test_exception_with_template_and_arguments(make_sink: MakeSink) -> None:
    """logger.exception sends the chain, the template and its arguments, without any prefix."""
    _, transport = make_sink()
    try:
        fail(7)
    except OrderError:
        logger.exception("order {} failed for {who}", 7, who="alice")
    (event,) = transport.events
    assert [v["type"] for v in event["exception"]["values"]] == ["KeyError", "OrderError"]
    assert event["logentry"] == {
        "message": "order {} failed for {who}",
        "params": [7],
        "formatted": "order 7 failed for alice",
    }
    assert event["logger"] == __name__
    assert event["level"] == "error"
    log = event["contexts"]["log"]
    assert log["function"] == "test_exception_with_template_and_arguments"
    assert log["level"] == "ERROR"


def test_keyword_only_arguments_are_params(make_sink: MakeSink) -> None:
    """With keyword arguments only, params is the mapping."""
    _, transport = make_sink()
    logger.error("order {order_id} failed", order_id=8)
    (event,) = transport.events
    assert event["logentry"]["params"] == {"order_id": 8}
    assert event["logentry"]["message"] == "order {order_id} failed"


def test_opt_exception(make_sink: MakeSink) -> None:
    """opt(exception=err) sends that exception."""
    _, transport = make_sink()
    logger.opt(exception=ValueError("given")).error("with an exception object")
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "given"


@pytest.mark.parametrize(
    ("level", "expected"),
    [("WARNING", "warning"), ("ERROR", "error"), ("CRITICAL", "fatal"), ("NOTICE", "warning")],
)
def test_levels_map_to_sentry_levels(make_sink: MakeSink, level: str, expected: str) -> None:
    """loguru levels, custom ones included, map to Sentry's by number."""
    try:
        logger.level("NOTICE")
    except ValueError:
        logger.level("NOTICE", no=35)
    _, transport = make_sink(event_level="WARNING")
    logger.log(level, "at {}", level)
    (event,) = transport.events
    assert event["level"] == expected


def test_loguru_level_names_as_options(make_sink: MakeSink) -> None:
    """event_level and breadcrumb_level accept loguru names: SUCCESS, TRACE."""
    sink, transport = make_sink(event_level="SUCCESS", breadcrumb_level="TRACE")
    assert (sink.options.event_level, sink.options.breadcrumb_level) == (25, 5)
    logger.trace("fine detail")
    logger.success("done")
    (event,) = transport.events
    assert event["level"] == "info"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["fine detail"]


def test_bind_and_contextualize_become_tags_or_context(make_sink: MakeSink) -> None:
    """tag_keys turn bound values into tags; tags/fingerprint/user work as with SentryHandler."""
    _, transport = make_sink(tag_keys=["request_id"], tags={"service": "orders"})
    with logger.contextualize(request_id="r-1"):
        logger.bind(
            order_id=7, tags={"region": "eu"}, fingerprint=["orders"], user={"id": "u-1"}
        ).error("failed")
    (event,) = transport.events
    assert event["tags"] == {"service": "orders", "request_id": "r-1", "region": "eu"}
    assert event["fingerprint"] == ["orders"]
    assert event["user"] == {"id": "u-1"}
    assert event["contexts"]["extra"] == {"order_id": 7}


def test_lower_levels_become_breadcrumbs(make_sink: MakeSink) -> None:
    """INFO and SUCCESS become breadcrumbs with their bound data; DEBUG does not."""
    _, transport = make_sink()
    logger.debug("too low")
    logger.bind(cart="c-1").info("loaded {} items", 3)
    logger.success("paid")
    logger.error("then failed")
    (event,) = transport.events
    crumbs = event["breadcrumbs"]["values"]
    assert [(c["message"], c["level"]) for c in crumbs] == [
        ("loaded 3 items", "info"),
        ("paid", "info"),
    ]
    assert crumbs[0]["data"] == {"cart": "c-1"}


def log_plain_error() -> None:
    logger.error("no exception")


def test_error_without_exception_has_the_callers_stack(make_sink: MakeSink) -> None:
    """The stack starts at the log call, with no frame of loguru or this library."""
    _, transport = make_sink()
    log_plain_error()
    (event,) = transport.events
    frames = event["threads"]["values"][0]["stacktrace"]["frames"]
    assert frames[-1]["function"] == "log_plain_error"
    assert not any(
        (f.get("module") or "").startswith(("loguru", "sentry_logging_std")) for f in frames
    )


def test_enqueue_carries_the_scope_of_the_call(make_sink: MakeSink) -> None:
    """With enqueue=True and format=sink.format, the event has the caller's scope and template."""
    sink, transport = make_sink()
    logger.remove()
    logger.add(sink, level="INFO", enqueue=True, format=sink.format)
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("request", "r-9")
        logger.info("step one")
        logger.error("order {} failed", 9)
    logger.complete()
    (event,) = transport.events
    assert event["tags"]["request"] == "r-9"
    assert event["logentry"]["message"] == "order {} failed"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["step one"]


def test_enqueue_without_the_format_hook_still_sends(make_sink: MakeSink) -> None:
    """enqueue=True alone still delivers the event (without the call-time extras)."""
    sink, transport = make_sink()
    logger.remove()
    logger.add(sink, level="INFO", enqueue=True)
    logger.error("order {} failed", 10)
    logger.complete()
    (event,) = transport.events
    assert shown_message(event) == "order 10 failed"


def test_catch_true_and_logger_catch(make_sink: MakeSink) -> None:
    """catch=True on add, and @logger.catch, deliver the exception as one event."""
    _, transport = make_sink(add={"catch": True})

    @logger.catch(reraise=False)
    def crash() -> None:
        raise RuntimeError("caught by loguru")

    crash()
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "caught by loguru"


def test_removing_other_sinks_keeps_this_one(make_sink: MakeSink) -> None:
    """logger.remove() of another sink leaves the SentrySink working; removing it stops it."""
    sink, transport = make_sink()
    other = logger.add(lambda message: None)
    logger.remove(other)
    logger.error("still sent")
    assert len(transport.events) == 1
    assert sink.attached
    logger.remove()
    assert not sink.attached


def test_bad_option_names_the_option() -> None:
    """A bad option fails SentrySink() and names it."""
    with pytest.raises(ValueError, match="event_level"):
        SentrySink(event_level="LOUDEST")
    with pytest.raises(TypeError, match="'environment'"):
        SentrySink(enviroment="x")


def run_script(source: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, "PYTHONPATH": str(ROOT)},
    )


CAPTURE = """
import sentry_sdk
from loguru import logger
from sentry_logging_std import SentrySink
from tests.conftest import CapturingTransport, TEST_DSN
transport = CapturingTransport()
def show():
    sentry_sdk.flush()
    print([sorted(e["contexts"]) for e in transport.events])
    print(len(transport.events), "events")
"""


def test_one_event_when_the_application_enabled_loguru_integration() -> None:
    """sentry_sdk.init with its LoguruIntegration, then a SentrySink: one event per error."""
    result = run_script(
        CAPTURE
        + """
sentry_sdk.init(dsn=TEST_DSN, transport=transport)  # LoguruIntegration on by default
logger.add(SentrySink())
try:
    1 / 0
except ZeroDivisionError:
    logger.exception("once")
show()
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("1 events"), result.stdout
    assert "'log'" in result.stdout  # the sink's event, not the integration's


def test_one_event_when_the_sink_started_the_client() -> None:
    """The sink starts the client with sentry-sdk's LoguruIntegration silenced."""
    result = run_script(
        CAPTURE
        + """
logger.add(SentrySink(dsn=TEST_DSN, transport=transport))
logger.error("once")
logger.error("twice")
show()
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("2 events"), result.stdout


def test_without_loguru_the_error_names_the_extra() -> None:
    """Importing SentrySink without loguru raises ImportError naming the extra."""
    result = run_script(
        """
import sys
sys.modules["loguru"] = None  # as if it were not installed
import sentry_logging_std  # the package itself does not need loguru
try:
    from sentry_logging_std import SentrySink
except ImportError as exc:
    print(exc)
"""
    )
    assert result.returncode == 0, result.stderr
    assert "sentry-logging-std[loguru]" in result.stdout


def test_event_id_is_shared_with_other_sinks(make_sink: MakeSink) -> None:
    """loguru_event_id(record) gives another sink the id of the event, before or after the sink."""
    from sentry_logging_std._loguru import loguru_event_id

    seen: list[Any] = []
    logger.add(lambda message: seen.append(loguru_event_id(message.record)))  # before
    _, transport = make_sink()
    logger.add(lambda message: seen.append(loguru_event_id(message.record)))  # after
    logger.info("no event")
    logger.error("an event")
    (event,) = transport.events
    assert seen == [None, None, event["event_id"], event["event_id"]]


def test_stats_count_what_was_sent_and_held_back() -> None:
    """The sink reports the same counts as the handler: sent by this library's
    transport, and held back by flood control."""
    logger.remove()
    with envelope_server() as server:
        sink = SentrySink(dsn=server.dsn(), flood_limit=2, flood_window=60)
        logger.add(sink, level="INFO")
        for n in range(5):
            logger.error("disk {} full", n)  # one call site: one flood key
        sink.flush()  # sends the third, held back, with the count of the other two
        assert server.wait_for(3, timeout=10)
        counts = sink.stats()
    logger.remove()
    assert counts["sent"] == 3
    assert counts["suppressed_flood"] == 2


SPAWN_SCRIPT = """
import multiprocessing, os, sys
from loguru import logger
from sentry_logging_std import LoguruJsonFormat, SentrySink


def child(log):
    try:
        raise KeyError("in the child")
    except KeyError:
        log.exception("child {} failed pin={}", os.getpid(), "4321")


if __name__ == "__main__":
    logger.remove()
    sink = SentrySink(dsn=os.environ["DSN"], flood_limit=0)
    context = multiprocessing.get_context(sys.argv[1])
    logger.add(sink, level="INFO", enqueue=True, format=sink.format, context=context)
    logger.add(os.environ["LINES"], format=LoguruJsonFormat(service_name="spawned",
               scrub_keys=["pin"]), enqueue=True, context=context)
    process = context.Process(target=child, args=(logger,))
    process.start()
    process.join(60)
    logger.complete()
    sink.flush()
    print("child exit", process.exitcode)
    logger.remove()
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_the_readme_setup_survives_spawn_and_forkserver(tmp_path: Path, method: str) -> None:
    """``enqueue=True, format=sink.format`` pickles the sink (and a LoguruJsonFormat) into a
    child started by spawn or forkserver: both must pickle, the child's error reaches the
    server as one event and the file as one scrubbed JSON line."""
    import inspect

    if "context" not in inspect.signature(logger.add).parameters:
        pytest.skip("loguru before 0.7.1 has no context= for logger.add")
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} here")
    script = tmp_path / "spawn_script.py"
    script.write_text(SPAWN_SCRIPT)
    with envelope_server() as server:
        result = subprocess.run(
            [sys.executable, str(script), method],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "DSN": server.dsn(),
                "PYTHONPATH": str(ROOT),
                "LINES": str(tmp_path / "lines.json"),
            },
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "child exit 0" in result.stdout, result.stderr
        assert server.wait_for(1, timeout=10)
        (event,) = server.events()
    assert event["exception"]["values"][-1]["type"] == "KeyError"
    assert shown_message(event).startswith("child ")
    (line,) = (tmp_path / "lines.json").read_text().splitlines()
    parsed = json.loads(line)
    assert parsed["service"]["name"] == "spawned"
    assert parsed["message"].endswith("pin=[Filtered]")
    assert parsed["error"]["type"] == "KeyError"
    assert "4321" not in line
