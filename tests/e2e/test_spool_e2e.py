"""The spool against Bugsink: SIGKILL and restart, a spool without a DSN sent later, resends."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sentry_logging_std import SentryHandler
from sentry_logging_std._spool import Spool

from ..conftest import shown_message
from ..envelope_server import closed_port
from ..test_spool import start_child
from .bugsink import Bugsink

ROOT = Path(__file__).resolve().parents[2]


def spool_command(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentry_logging_std", "spool", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "SENTRY_DSN": dsn},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_events_flushed_before_sigkill_reach_bugsink_once_after_restart(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    """ "Accepted" means handler.flush() returned: the process is then SIGKILLed with the
    server unreachable, restarted against Bugsink, and every event is stored exactly once."""
    before = bugsink.event_count()
    child = start_child(
        DSN=f"http://k@127.0.0.1:{closed_port()}/1", SPOOL=str(tmp_path), N="5", WAIT="1"
    )
    assert child.stdout is not None
    lines = [child.stdout.readline().strip() for _ in range(6)]
    assert lines[-1] == "flushed"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    event_ids = lines[:5]
    assert len(Spool(tmp_path).waiting()) == 5

    again = start_child(DSN=bugsink.dsn, SPOOL=str(tmp_path), N="0", WAIT="1")
    try:
        assert again.stdout is not None
        assert again.stdout.readline().strip() == "flushed"
    finally:
        again.kill()
        again.communicate(timeout=30)
    stored = [bugsink.event(event_id) for event_id in event_ids]
    assert sorted(e["logentry"]["formatted"] for e in stored) == [
        f"child event {n}" for n in range(5)
    ]
    assert bugsink.event_count() == before + 5
    assert Spool(tmp_path).waiting() == []


def test_bugsink_stores_a_resent_event_id_once(bugsink: Bugsink, tmp_path: Path) -> None:
    """If a process dies after the server stored an event but before it removed the file,
    the next start sends it again: Bugsink keys on event_id, takes the copy (200) and
    stores the event once."""
    handler = SentryHandler(spool_dir=str(tmp_path), flood_limit=0)
    log = logging.getLogger("tests.e2e.spool.resend")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.error("sent twice, stored once")
        handler.flush()
    finally:
        log.removeHandler(handler)
    spool = Spool(tmp_path)
    (name,) = spool.waiting()
    copy = name.replace("-", "-9", 1)  # a later name, the same bytes
    shutil.copy(spool.ready / name, spool.ready / copy)
    before = bugsink.event_count()
    result = spool_command("send", "--dir", str(tmp_path), dsn=bugsink.dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sent 2" in result.stdout, result.stdout
    assert bugsink.event_count() == before + 1
    assert handler.last_event_id is not None
    assert shown_message(bugsink.event(handler.last_event_id)) == "sent twice, stored once"


def test_spool_without_dsn_is_delivered_whole_by_the_command(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    """No DSN: the event waits on disk; `spool send` with SENTRY_DSN stores it as built."""
    handler = SentryHandler(spool_dir=str(tmp_path), environment="e2e", tags={"service": "spool"})
    log = logging.getLogger("tests.e2e.spool.later")
    log.propagate = False
    log.addHandler(handler)
    try:
        try:
            raise LookupError("no widgets")
        except LookupError:
            log.exception("order %s failed", 7)
        handler.flush()
    finally:
        log.removeHandler(handler)
    status = spool_command("status", "--dir", str(tmp_path), dsn="")
    assert "waiting: 1 envelope(s)" in status.stdout
    result = spool_command("send", "--dir", str(tmp_path), dsn=bugsink.dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    assert handler.last_event_id is not None
    data = bugsink.event(handler.last_event_id)
    assert data["logentry"]["formatted"] == "order 7 failed"
    assert [v["type"] for v in data["exception"]["values"]] == ["LookupError"]
    assert data["environment"] == "e2e"
    assert data["tags"]["service"] == "spool"
    assert Spool(tmp_path).waiting() == []


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, **env},
    )


def test_demo_keeps_the_event_without_a_dsn_and_delivers_it_once_one_is_set(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    """The README's demo on a machine without a Sentry account keeps its event in the spool
    and names the command; run again with SENTRY_DSN, it delivers that event and its own."""
    first = run_demo(SENTRY_SPOOL_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert f"It waits in {tmp_path}" in first.stdout
    assert "python -m sentry_logging_std spool send" in first.stdout
    waited = first.stdout.split("sentry.event_id ")[1].split(",")[0]
    assert len(Spool(tmp_path).waiting()) == 1

    second = run_demo(SENTRY_SPOOL_DIR=str(tmp_path), SENTRY_DSN=bugsink.dsn)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Also delivered 1 event(s) that waited in {tmp_path}" in second.stdout
    sent = second.stdout.split("event id ")[1].split()[0]
    for event_id in (waited, sent):
        data = bugsink.event(event_id)
        assert [v["type"] for v in data["exception"]["values"]] == ["LookupError", "RuntimeError"]
    assert Spool(tmp_path).waiting() == []
