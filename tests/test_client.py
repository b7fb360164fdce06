"""The client: started lazily, exactly once; the application's own client respected."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, ClassVar

import pytest
import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

from sentry_logging_std import SentryHandler
from sentry_logging_std._worker import WORKER

from .conftest import TEST_DSN, CapturingTransport, shown_message


class CountingTransport(CapturingTransport):
    """A transport class: sentry-sdk builds one per client it starts."""

    instances = 0
    #: The threads that built one (sentry-sdk builds it inside ``init``).
    built_on: ClassVar[list[threading.Thread]] = []

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        type(self).built_on.append(threading.current_thread())


@pytest.fixture
def counting() -> type[CountingTransport]:
    CountingTransport.instances = 0
    CountingTransport.built_on = []
    return CountingTransport


def test_client_starts_on_the_first_record_that_needs_it(counting: type[CountingTransport]) -> None:
    """Building the handler starts nothing; the first INFO record starts the client."""
    handler = SentryHandler(dsn=TEST_DSN, transport=counting)
    log = logging.getLogger("tests.lazy")
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)

    def running() -> bool:  # a call, so the checker does not narrow the property
        return handler.running

    try:
        assert not running()
        log.debug("below every level: starts nothing")
        assert not running()
        log.info("needs a breadcrumb")
        handler.flush()  # the start runs off this thread
        assert running()
        assert counting.instances == 1
    finally:
        log.removeHandler(handler)


def test_the_calling_thread_never_starts_the_client(counting: type[CountingTransport]) -> None:
    """The first error is taken like any other; a thread of its own starts the
    client (sentry-sdk's init, tens of milliseconds), then the worker builds the event."""
    handler = SentryHandler(dsn=TEST_DSN, transport=counting)
    log = logging.getLogger("tests.first")
    log.addHandler(handler)
    try:
        try:
            raise ValueError("first of the process")
        except ValueError:
            log.exception("the first error")
        assert WORKER.flush(10)
        assert counting.built_on, "no client was started"
        assert threading.current_thread() not in counting.built_on
        assert [t.name for t in counting.built_on] == ["sentry-logging-std.start"]
        transport = sentry_sdk.get_client().transport
        assert isinstance(transport, CountingTransport)
        (event,) = transport.events
        assert event["exception"]["values"][-1]["value"] == "first of the process"
    finally:
        log.removeHandler(handler)


def test_sync_capture_starts_the_client_on_the_calling_thread(
    counting: type[CountingTransport],
) -> None:
    """capture="sync" pays for everything on the caller, the start included."""
    handler = SentryHandler(dsn=TEST_DSN, transport=counting, capture="sync")
    log = logging.getLogger("tests.first_sync")
    log.addHandler(handler)
    try:
        log.error("the first error")
        assert counting.built_on == [threading.current_thread()]
    finally:
        log.removeHandler(handler)


def test_breadcrumbs_logged_while_the_client_starts_are_kept(
    counting: type[CountingTransport],
) -> None:
    """sentry-sdk drops a breadcrumb when no client is active: those logged
    before the worker's start finished are held and put on their own scope,
    in order, and an error logged meanwhile carries its scope's ones."""
    handler = SentryHandler(dsn=TEST_DSN, transport=counting)
    log = logging.getLogger("tests.early")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    other: list[str] = []

    def elsewhere() -> None:
        with sentry_sdk.isolation_scope():
            log.info("another request's step")
            other.append("done")

    # The worker is kept busy, so the start (queued by the first record)
    # cannot run before every record below is logged.
    busy = threading.Event()
    WORKER.submit(lambda: busy.wait(10), 100, 1.0)
    try:
        log.info("step %d", 1)
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(5)
        log.info("step %d", 2)
        log.error("failed after two steps")
        log.error("failed again")
        assert other == ["done"]
        assert not handler.running
        busy.set()
        assert WORKER.flush(10)
        transport = sentry_sdk.get_client().transport
        assert isinstance(transport, CountingTransport)
        first, second = transport.events
        for event in (first, second):
            crumbs = [crumb["message"] for crumb in event["breadcrumbs"]["values"]]
            assert crumbs[:2] == ["step 1", "step 2"], crumbs
            assert "another request's step" not in crumbs
        # The scope itself got them too, once: later events see each one once.
        log.error("a later error")
        later = transport.events[-1]
        crumbs = [crumb["message"] for crumb in later["breadcrumbs"]["values"]]
        assert crumbs.count("step 1") == 1, crumbs
        assert crumbs.count("step 2") == 1, crumbs
    finally:
        busy.set()
        log.removeHandler(handler)


def test_explicit_init(counting: type[CountingTransport]) -> None:
    """init() starts the client; calling it again changes nothing."""
    handler = SentryHandler(dsn=TEST_DSN, transport=counting)
    assert handler.init() is True
    assert handler.init() is True
    assert handler.running
    assert counting.instances == 1


def test_racing_threads_start_exactly_one_client(counting: type[CountingTransport]) -> None:
    """64 threads released together by a Barrier start one client between them."""
    handler = SentryHandler(dsn=TEST_DSN, transport=counting, flood_limit=0)
    log = logging.getLogger("tests.race")
    log.addHandler(handler)
    barrier = threading.Barrier(64)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            log.error("racer %d", n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(64)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        log.removeHandler(handler)
    assert errors == []
    assert WORKER.flush(10)
    assert counting.instances == 1
    transport = sentry_sdk.get_client().transport
    assert isinstance(transport, CountingTransport)
    assert len(transport.events) == 64


def test_application_client_is_used_not_replaced(transport: CapturingTransport) -> None:
    """A client the application started is used as is; the handler's own options are not applied."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport, environment="from-app")
    app_client = sentry_sdk.get_client()
    handler = SentryHandler(dsn="http://other@127.0.0.1:9/7", environment="from-handler")
    log = logging.getLogger("tests.appclient")
    log.addHandler(handler)
    try:
        log.error("failed")
    finally:
        log.removeHandler(handler)
    assert sentry_sdk.get_client() is app_client
    (event,) = transport.events
    assert event["environment"] == "from-app"


def test_closed_client_is_not_restarted(transport: CapturingTransport) -> None:
    """Once the client the handler started is closed, records do not start another."""
    handler = SentryHandler(dsn=TEST_DSN, transport=transport)
    assert handler.init()
    sentry_sdk.get_client().close(timeout=0)
    sentry_sdk.Scope.get_global_scope().set_client(None)
    log = logging.getLogger("tests.closed")
    log.addHandler(handler)
    try:
        log.error("after close")
    finally:
        log.removeHandler(handler)
    assert not handler.running


def test_one_event_when_the_sdk_logging_integration_is_on(transport: CapturingTransport) -> None:
    """The application's default LoggingIntegration and the handler send one event, not two."""
    sentry_sdk.init(dsn=TEST_DSN, transport=transport)  # default integrations, logging on
    assert sentry_sdk.get_client().get_integration(LoggingIntegration) is not None
    root = logging.getLogger()
    handler = SentryHandler()
    root.addHandler(handler)
    log = logging.getLogger("tests.twice")
    log.setLevel(logging.INFO)
    log.info("a breadcrumb")
    try:
        raise ValueError("once")
    except ValueError:
        log.exception("failed once")
    (event,) = transport.events
    assert event["contexts"]["log"]["logger"] == "tests.twice"  # the handler's event, not the SDK's
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["a breadcrumb"]


def test_one_event_when_the_handler_started_the_client(transport: CapturingTransport) -> None:
    """When the handler starts the client, the SDK's logging integration stays silent."""
    handler = SentryHandler(dsn=TEST_DSN, transport=transport)
    logging.getLogger().addHandler(handler)
    log = logging.getLogger("tests.owned")
    log.warning("crumb")
    log.error("failed")
    (event,) = transport.events
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["crumb"]


def test_own_and_library_loggers_never_loop(transport: CapturingTransport) -> None:
    """With debug=True and the handler on the root, sentry-sdk and urllib3 records stay local."""
    handler = SentryHandler(dsn=TEST_DSN, transport=transport, debug=True, event_level="DEBUG")
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").error("pool trouble")
    logging.getLogger("sentry_sdk.errors").error("sdk trouble")
    logging.getLogger("tests.real").error("real trouble")
    sentry_sdk.flush()
    messages = [shown_message(e) for e in transport.events]
    assert messages == ["real trouble"]


def test_handler_close_flushes(transport: CapturingTransport) -> None:
    """close() flushes the client the handler started and leaves it usable by others."""
    handler = SentryHandler(dsn=TEST_DSN, transport=transport)
    log = logging.getLogger("tests.close")
    log.addHandler(handler)
    log.error("before close")
    log.removeHandler(handler)
    handler.close()
    assert len(transport.events) == 1


def test_failing_init_is_reported_not_raised() -> None:
    """An integration that cannot start fails the start quietly; the reason is kept."""
    from sentry_sdk.integrations import Integration

    from sentry_logging_std._client import INITIALIZER

    class Broken(Integration):
        identifier = "broken_for_tests"

        @staticmethod
        def setup_once() -> None:
            raise RuntimeError("cannot start")

    handler = SentryHandler(dsn=TEST_DSN, transport=CapturingTransport, integrations=[Broken()])
    log = logging.getLogger("tests.broken")
    log.addHandler(handler)
    try:
        log.error("after a failed start")  # must not raise
        handler.flush()
        log.error("and again: no second attempt")
        handler.flush()
    finally:
        log.removeHandler(handler)
    assert INITIALIZER.failure == "RuntimeError: cannot start"
    # Each error had nothing to carry it, and each is counted.
    assert handler.stats().get("dropped_no_client") == 2


def test_before_send_can_drop(make_handler: Any) -> None:
    """A before_send returning None drops the event; nothing is sent."""
    _, transport = make_handler(before_send=lambda event, hint: None)
    logging.getLogger("tests.app").error("dropped")
    assert transport.events == []


def test_one_event_through_two_handlers(transport: CapturingTransport) -> None:
    """A record that reaches two SentryHandlers (logger and root) is one event."""
    first = SentryHandler(dsn=TEST_DSN, transport=transport)
    second = SentryHandler(dsn=TEST_DSN, transport=transport)
    log = logging.getLogger("tests.twohandlers")
    log.addHandler(first)
    logging.getLogger().addHandler(second)
    try:
        log.error("once")
    finally:
        log.removeHandler(first)
    (event,) = transport.events
    assert shown_message(event) == "once"
    assert first.last_event_id == second.last_event_id == event["event_id"]


START_FAILS = """
import logging, os, sys
from sentry_sdk.integrations import Integration
from sentry_logging_std import SentryHandler

class Broken(Integration):
    identifier = "broken_for_tests"

    @staticmethod
    def setup_once():
        raise TypeError("Unknown option 'before_send_transaction'")

options = {"spool_dir": os.environ["SPOOL"]} if os.environ["SPOOL"] else {}
handler = SentryHandler(dsn=os.environ["DSN"], integrations=[Broken()], **options)
log = logging.getLogger("app")
log.addHandler(handler)
log.warning("a breadcrumb first")
log.error("payment failed", extra={"password": "hunter2", "order": 7})
log.error("and a second one")
handler.flush()
import json
print(json.dumps({k: v for k, v in handler.stats().items() if v}))
"""


@pytest.mark.parametrize("spool", [False, True], ids=["no spool", "spool"])
def test_a_client_that_cannot_start_says_so_once(tmp_path: Any, spool: bool) -> None:
    """The start fails (as sentry-sdk 3.0 refuses an option of 2.x): one message on
    stderr with the reason and what to change, whatever debug is; counted; with a
    spool the events wait there."""
    from .envelope_server import envelope_server
    from .test_delivery import run_script

    with envelope_server() as server:
        result = run_script(
            START_FAILS, DSN=server.dsn(), SPOOL=str(tmp_path / "spool") if spool else ""
        )
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "could not start" in line]
    assert len(said) == 1, result.stderr
    assert "Unknown option 'before_send_transaction'" in said[0]
    assert "does not accept the option 'before_send_transaction'" in result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["client_start_failed"] == 1
    if spool:
        assert "events are kept in the spool" in result.stderr
        assert counts["spooled_no_client"] == 2
        assert "dropped_no_client" not in counts
    else:
        assert counts["dropped_no_client"] == 2


def test_events_spooled_while_no_client_could_start_are_delivered_later(tmp_path: Any) -> None:
    """The next process whose client starts with the same spool sends them, scrubbed,
    with the breadcrumb logged before them."""
    from .envelope_server import envelope_server
    from .test_delivery import run_script

    spool = str(tmp_path / "spool")
    with envelope_server() as server:
        failed = run_script(START_FAILS, DSN=server.dsn(), SPOOL=spool)
        assert failed.returncode == 0, failed.stderr
        assert server.requests == 0  # nothing could be sent
        later = run_script(
            """
            import os
            from sentry_logging_std import SentryHandler
            handler = SentryHandler(dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"])
            assert handler.init()
            handler.flush()
            """,
            DSN=server.dsn(),
            SPOOL=spool,
        )
        assert later.returncode == 0, later.stderr
        assert server.wait_for(2, timeout=20)
        events = sorted(server.events(), key=lambda e: e["logentry"]["message"])
    assert [e["logentry"]["message"] for e in events] == ["and a second one", "payment failed"]
    payment = events[1]
    assert "hunter2" not in str(payment)
    assert payment["contexts"]["extra"]["order"] == 7
    assert payment["environment"] == "production"
    crumbs = [c["message"] for c in payment.get("breadcrumbs", {}).get("values", [])]
    assert crumbs == ["a breadcrumb first"]
