"""Capture off the calling thread: the same event, values as at the log call, fork and exit safe."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import MakeHandler
from .envelope_server import envelope_server

ROOT = Path(__file__).resolve().parent.parent

VOLATILE = {"event_id", "timestamp", "sent_at"}


def strip_volatile(value: Any) -> Any:
    """The event without what differs between any two captures: ids and times."""
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def settle(order_id: int) -> None:
    amount = order_id * 10
    try:
        raise ValueError(f"cannot settle {amount}")
    except ValueError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc


def log_failure(log: logging.Logger, order_id: int) -> None:
    stage = "charging"
    log.info("stage %s", stage)
    try:
        settle(order_id)
    except RuntimeError:
        log.exception("order %s failed", order_id, extra={"tags": {"stage": stage}})
    log.error("plain error at %s", stage)


def test_background_capture_sends_what_sync_capture_sends(make_handler: MakeHandler) -> None:
    """The same log calls captured on the worker and on the calling thread give equal events."""
    handler, transport = make_handler()
    log = logging.getLogger("tests.app")
    runs = []
    for mode in ("sync", "background"):
        handler.options = dataclasses.replace(handler.options, capture=mode)
        transport.envelopes.clear()
        log_failure(log, 7)
        runs.append(transport.events)
    sync_events, background_events = runs
    assert len(sync_events) == len(background_events) == 2
    for synchronous, background in zip(sync_events, background_events):
        # Breadcrumbs accumulate in the scope across the two runs: compare the rest.
        synchronous.pop("breadcrumbs"), background.pop("breadcrumbs")
        assert strip_volatile(background) == strip_volatile(synchronous)


def test_variables_are_the_values_at_the_log_call(make_handler: MakeHandler) -> None:
    """A loop that goes on after logging does not change the variables the event shows."""
    _, transport = make_handler()
    log = logging.getLogger("tests.app")
    for attempt in range(3):
        try:
            raise KeyError(attempt)
        except KeyError:
            log.exception("attempt %d failed", attempt)
        attempt_copy = attempt * 100  # noqa: F841 - a local that changes after the log call
    shown = []
    for event in transport.events:
        frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
        shown.append(frame["vars"]["attempt"])
    assert shown == ["0", "1", "2"]


def run_script(source: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=False,
    )


def test_exit_delivers_everything_queued() -> None:
    """Fifty errors logged just before exit all arrive: the queue is drained first."""
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            logging.getLogger().addHandler(SentryHandler(dsn=os.environ["DSN"],
                                                         shutdown_timeout=10, flood_limit=0))
            for n in range(50):
                logging.getLogger("script").error("error %d", n)
            """,
            DSN=server.dsn(),
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(50, timeout=10)
        messages = sorted(e["logentry"]["formatted"] for e in server.events())
    assert messages == sorted(f"error {n}" for n in range(50))


@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
def test_package_threads_import_nothing(spool: bool, tmp_path: Path) -> None:
    """Every module the worker and the transport need is loaded before they start.

    A thread that imports while another thread forks leaves that module's import
    lock held in the child forever; the child's next send would hang on it.
    """
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os, sys, threading
            seen = []
            def watch(event, args):
                # The client's start imports sentry-sdk's integrations on a
                # thread of its own; a fork waits for it to end instead.
                thread = threading.current_thread()
                if (event == "import" and thread is not threading.main_thread()
                        and thread.name != "sentry-logging-std.start"):
                    seen.append(args[0])
            sys.addaudithook(watch)
            from sentry_logging_std import SentryHandler
            spool = os.environ.get("SPOOL") or None
            handler = SentryHandler(dsn=os.environ["DSN"], spool_dir=spool, flood_limit=0)
            log = logging.getLogger("script")
            log.addHandler(handler)
            log.warning("a breadcrumb")
            log.error("an error")
            try:
                {}["missing"]
            except KeyError:
                log.exception("an exception")
            handler.flush()
            print("imported on package threads:", sorted(set(seen)))
            """,
            DSN=server.dsn(),
            SPOOL=str(tmp_path / "spool") if spool else "",
        )
        assert result.returncode == 0, result.stderr
        assert server.wait_for(2, timeout=10)
    assert "imported on package threads: []" in result.stdout


def test_fork_sends_nothing_twice_and_loses_nothing() -> None:
    """Children forked while the worker is busy send their own events, never the parent's.

    The first fork comes while the client is still starting (on a thread of
    its own, importing as it goes): it waits for the start, and the child
    inherits a whole client.
    """
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            handler = SentryHandler(dsn=os.environ["DSN"], flood_limit=0, shutdown_timeout=20)
            log = logging.getLogger("script")
            log.addHandler(handler)
            children = []
            for n in range(20):
                log.error("parent %d", n)          # the worker is busy with these at fork
                pid = os.fork()
                if pid == 0:
                    log.error("child %d", n)
                    handler.flush()
                    os._exit(0)
                children.append(pid)
            for pid in children:
                _, status = os.waitpid(pid, 0)
                assert status == 0, status
            handler.flush()
            print("done")
            """,
            DSN=server.dsn(),
        )
        assert result.returncode == 0, result.stderr
        assert "done" in result.stdout
        assert server.wait_for(40, timeout=30)
        messages = sorted(e["logentry"]["formatted"] for e in server.events())
    expected = sorted([f"parent {n}" for n in range(20)] + [f"child {n}" for n in range(20)])
    assert messages == expected
