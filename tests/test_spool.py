"""The durable spool: its files, bounds and claims, the transport that uses it, and the CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope

from sentry_logging_std import SentryHandler
from sentry_logging_std.__main__ import main
from sentry_logging_std._spool import Spool, frame, unframe
from sentry_logging_std._worker import WORKER

from .conftest import shown_message
from .envelope_server import EnvelopeServer, closed_port, envelope_server, silent_server

ROOT = Path(__file__).resolve().parent.parent


def envelope_bytes(n: int, dsn: str = "http://old@127.0.0.1:9/1") -> bytes:
    envelope = Envelope(headers={"event_id": f"{n:032x}", "dsn": dsn, "sent_at": "2001-01-01"})
    envelope.add_event({"event_id": f"{n:032x}", "message": f"stored {n}", "level": "error"})
    return envelope.serialize()


@pytest.fixture
def attach() -> Iterator[list[tuple[logging.Logger, SentryHandler]]]:
    made: list[tuple[logging.Logger, SentryHandler]] = []
    yield made
    for log, handler in made:
        log.removeHandler(handler)
        log.propagate = True


def handler_on(
    made: list[tuple[logging.Logger, SentryHandler]], name: str, **options: object
) -> tuple[logging.Logger, SentryHandler]:
    options.setdefault("flood_limit", 0)
    handler = SentryHandler(**options)
    log = logging.getLogger(name)
    log.propagate = False
    log.addHandler(handler)
    made.append((log, handler))
    return log, handler


def messages(server: EnvelopeServer) -> list[str]:
    return sorted(shown_message(e) for e in server.events())


# -- the file format -----------------------------------------------------------------


def test_frame_round_trip_and_every_torn_prefix_is_detected() -> None:
    """A framed file reads back whole; every shorter prefix and any flipped byte is refused."""
    payload = envelope_bytes(1)
    data = frame(payload)
    assert unframe(data) == payload
    for cut in range(len(data)):
        assert unframe(data[:cut]) is None
    for index in (0, 9, len(data) // 2, len(data) - 1):
        damaged = bytearray(data)
        damaged[index] ^= 0x01
        assert unframe(bytes(damaged)) is None
    assert unframe(data + b"x") is None


def test_files_are_stored_compressed() -> None:
    """Event JSON is stored compressed: the byte bound holds several times more events."""
    payload = envelope_bytes(1) + b'{"vars": "' + b"0.000123, " * 5000 + b'"}\n'
    data = frame(payload)
    assert unframe(data) == payload
    assert len(data) * 5 < len(payload)


def test_torn_file_is_set_aside_and_counted_and_the_rest_still_reads(tmp_path: Path) -> None:
    """A torn file in ready/ never crashes the reader: it moves to corrupt/ and is counted."""
    spool = Spool(tmp_path)
    spool.create()
    first = spool.write(b"first")
    torn = spool.write(b"torn payload")
    last = spool.write(b"last")
    path = spool.ready / torn
    path.write_bytes(path.read_bytes()[:-3])
    read = []
    for name in spool.waiting():
        claimed = spool.claim(name)
        assert claimed is not None
        payload = spool.read(claimed)
        if payload is not None:
            read.append(payload)
            spool.done(claimed)
    assert read == [b"first", b"last"]
    assert spool.counts["spool_corrupt"] == 1
    assert len(os.listdir(spool.corrupt)) == 1
    assert spool.waiting() == []
    assert {first, last}.isdisjoint(os.listdir(spool.corrupt))


def test_names_sort_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    names = [spool.write(f"{n}".encode()) for n in range(5)]
    assert spool.waiting() == names


@pytest.mark.parametrize(
    ("max_files", "max_bytes"), [(3, 10 * 1024 * 1024), (1000, 3 * len(frame(b"x" * 100)) + 10)]
)
def test_bounds_drop_the_oldest_and_count_them(
    tmp_path: Path, max_files: int, max_bytes: int
) -> None:
    spool = Spool(tmp_path, max_bytes=max_bytes, max_files=max_files)
    spool.create()
    names = [spool.write(f"{n:03d}".encode() + b"x" * 97) for n in range(5)]
    assert spool.waiting() == names[2:]
    assert spool.counts["spool_evicted"] == 2


def test_handler_counts_what_the_bounds_evicted(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    """Through the handler: the newest spool_max_files stay, the rest are counted."""
    log, handler = handler_on(
        attach, "tests.spool.bounds", spool_dir=str(tmp_path), spool_max_files=2
    )
    for n in range(5):
        log.error("bounded %d", n)
    handler.flush()
    stats = handler.stats()
    assert stats["spooled"] == 5
    assert stats["spool_evicted"] == 3
    assert stats["spool_waiting"] == 2


def test_a_flush_racing_the_writer_evicts_exactly_the_excess(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    """The writer thread and a flush both write batches: one at a time, so that each
    keeps the bounds against a directory the other is not changing. (Two at once
    evicted one file too many in about 1 of 30 rounds.)"""
    log, handler = handler_on(
        attach, "tests.spool.race", spool_dir=str(tmp_path), spool_max_files=2
    )
    evicted = 0
    for round_ in range(200):
        for n in range(5):
            log.error("round %d, %d", round_, n)
        handler.flush()
        stats = handler.stats()
        # 2 files were there (none in round 0), 5 came: all but the newest 2 go.
        evicted += 3 if round_ == 0 else 5
        assert (stats["spool_evicted"], stats["spool_waiting"]) == (evicted, 2), round_
    kept = []
    for name in sorted(os.listdir(tmp_path / "ready")):
        payload = unframe((tmp_path / "ready" / name).read_bytes())
        assert payload is not None
        event = Envelope.deserialize(payload).get_event()
        assert event is not None
        kept.append(shown_message(event))
    assert kept == ["round 199, 3", "round 199, 4"]  # the newest, in the order logged


def test_one_claim_wins(tmp_path: Path) -> None:
    """Two spools on one directory: a file is claimed by exactly one of them."""
    one, other = Spool(tmp_path), Spool(tmp_path)
    one.create()
    name = one.write(b"only once")
    first, second = one.claim(name), other.claim(name)
    assert (first is None) != (second is None)


def test_claim_of_a_dead_process_is_recovered_but_a_live_ones_is_not(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    dead_name, live_name = spool.write(b"dead"), spool.write(b"live")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        os.replace(spool.ready / dead_name, spool.claimed / f"{dead_name}@{dead_pid}")
        os.replace(spool.ready / live_name, spool.claimed / f"{live_name}@{live.pid}")
        assert spool.recover() == 1
        assert spool.waiting() == [dead_name]
        # A claim older than stale_after is recovered even if its pid lives (pid reuse).
        stale = Spool(tmp_path, stale_after=0.0)
        os.utime(spool.claimed / f"{live_name}@{live.pid}", (0, 0))
        assert stale.recover() == 1
        assert spool.waiting() == [dead_name, live_name]
    finally:
        live.kill()
        live.wait()


def test_partial_write_of_a_dead_process_is_set_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.create()
    (spool.tmp / "999999999-1.part").write_bytes(frame(b"half")[:10])
    spool.recover()
    assert os.listdir(spool.tmp) == []
    assert spool.counts["spool_corrupt"] == 1
    assert spool.waiting() == []


# -- options -------------------------------------------------------------------------


def test_unusable_spool_dir_is_an_error_naming_the_option(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="spool_dir"):
        SentryHandler(dsn="http://k@127.0.0.1:9/1", spool_dir=str(blocker / "spool"))
    with pytest.raises(TypeError, match="spool_dir"):
        SentryHandler(spool_dir=42)


def test_spool_options_are_checked(tmp_path: Path) -> None:
    from .conftest import CapturingTransport

    with pytest.raises(ValueError, match="spool_max_files"):
        SentryHandler(spool_dir=str(tmp_path), spool_max_files=0)
    with pytest.raises(ValueError, match="spool_max_bytes"):
        SentryHandler(spool_dir=str(tmp_path), spool_max_bytes=10)
    with pytest.raises(ValueError, match="spool_dir"):
        SentryHandler(spool_dir=str(tmp_path), transport=CapturingTransport())


# -- the transport -------------------------------------------------------------------


def test_events_survive_an_outage_and_are_delivered_once_it_ends(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    """503 keeps the events in the spool; once the server answers 200 each goes exactly once."""
    with envelope_server() as server:
        server.status = 503
        log, handler = handler_on(
            attach, "tests.spool.outage", dsn=server.dsn(), spool_dir=str(tmp_path)
        )
        for n in range(3):
            log.error("outage %d", n)
        handler.flush()
        stats = handler.stats()
        assert stats["spooled"] == 3
        assert stats["deferred_server_error"] >= 1
        assert stats["spool_waiting"] == 3
        server.status = 200
        assert server.wait_for(3, timeout=30)
        handler.flush()
        assert messages(server) == ["outage 0", "outage 1", "outage 2"]
        stats = handler.stats()
    assert stats["sent"] == 3
    assert stats["spool_waiting"] == 0
    assert not any(k.startswith("dropped") for k in stats)


def test_429_keeps_the_event_until_retry_after_passes(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    with envelope_server() as server:
        server.status = 429
        server.headers_to_send = {"Retry-After": "1"}
        log, handler = handler_on(
            attach, "tests.spool.429", dsn=server.dsn(), spool_dir=str(tmp_path)
        )
        log.error("limited")
        handler.flush()
        assert handler.stats()["deferred_rate_limited"] == 1
        server.status, server.headers_to_send = 200, {}
        assert server.wait_for(1, timeout=30)
        assert messages(server) == ["limited"]
    assert "dropped_rate_limited" not in handler.stats()


def test_rate_limited_errors_wait_in_the_spool_instead_of_being_dropped(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    """A limit on the error category keeps the next error on disk, unsent and not dropped."""
    with envelope_server() as server:
        server.headers_to_send = {"X-Sentry-Rate-Limits": "60:error:organization"}
        log, handler = handler_on(
            attach, "tests.spool.limits", dsn=server.dsn(), spool_dir=str(tmp_path)
        )
        log.error("first")
        handler.flush()
        log.error("second")
        handler.flush()
        stats = handler.stats()
        assert messages(server) == ["first"]
    assert stats["spool_waiting"] == 1
    assert "dropped_rate_limited" not in stats


@pytest.mark.parametrize(
    ("status", "reason"), [(403, "dropped_refused"), (413, "dropped_too_large")]
)
def test_permanent_refusal_removes_the_file_and_counts(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]], status: int, reason: str
) -> None:
    with envelope_server() as server:
        server.status = status
        log, handler = handler_on(
            attach, f"tests.spool.{status}", dsn=server.dsn(), spool_dir=str(tmp_path)
        )
        log.error("refused for good")
        handler.flush()
        stats = handler.stats()
    assert stats[reason] == 1
    assert stats["spool_waiting"] == 0


def test_silent_server_keeps_the_event_and_flush_returns(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    with silent_server() as port:
        log, handler = handler_on(
            attach,
            "tests.spool.silent",
            dsn=f"http://k@127.0.0.1:{port}/1",
            spool_dir=str(tmp_path),
            transport_timeout=0.3,
            shutdown_timeout=5.0,
        )
        log.error("nobody answers")
        handler.flush()
        stats = handler.stats()
    assert stats["deferred_network_error"] == 1
    assert stats["spool_waiting"] == 1


def test_what_waited_is_replayed_at_start_without_a_log_call(tmp_path: Path) -> None:
    """Files left by an earlier process go out once a client starts, in the background;
    the stored DSN header is dropped, the sending DSN's key is used and sent_at is now."""
    spool = Spool(tmp_path)
    spool.create()
    for n in range(3):
        spool.write(envelope_bytes(n))
    with envelope_server() as server:
        handler = SentryHandler(dsn=server.dsn(key="newkey"), spool_dir=str(tmp_path))
        assert handler.init()
        assert server.wait_for(3, timeout=30)
        handler.flush()
        assert messages(server) == ["stored 0", "stored 1", "stored 2"]
        assert all("sentry_key=newkey" in auth for auth in server.auth_headers)
        headers = [json.loads(body.split(b"\n", 1)[0]) for body in server.envelopes]
        assert all("dsn" not in h and h["sent_at"] > "2001-01-01" for h in headers)
        assert handler.stats()["spool_waiting"] == 0


def test_sync_transport_writes_before_the_log_call_returns(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    """transport="sync", capture="sync": the event is on disk when the log call returns."""
    log, handler = handler_on(
        attach,
        "tests.spool.sync",
        dsn=f"http://k@127.0.0.1:{closed_port()}/1",
        spool_dir=str(tmp_path),
        transport="sync",
        capture="sync",
    )
    log.error("on disk already")
    spool = Spool(tmp_path)
    assert len(spool.waiting()) + len(os.listdir(spool.claimed)) == 1  # the worker may be trying
    # One attempt from the log call, perhaps one from the worker's start-up scan.
    assert handler.stats()["deferred_network_error"] >= 1


def test_no_dsn_spools_and_the_cli_delivers_later(
    tmp_path: Path,
    attach: list[tuple[logging.Logger, SentryHandler]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With spool_dir and no DSN, events are built and kept; `spool send` delivers them."""
    log, handler = handler_on(attach, "tests.spool.nodsn", spool_dir=str(tmp_path))
    assert repr(handler) == f"<SentryHandler {tmp_path} (NOTSET)>"
    log.error("waits for a server")
    handler.flush()
    assert handler.stats()["spooled"] == 1
    assert main(["spool", "status", "--dir", str(tmp_path)]) == 0
    assert "waiting: 1 envelope(s)" in capsys.readouterr().out
    assert (
        main(
            [
                "spool",
                "send",
                "--dir",
                str(tmp_path),
                "--dsn",
                f"http://k@127.0.0.1:{closed_port()}/1",
            ]
        )
        == 5
    )
    assert "still waiting 1" in capsys.readouterr().out
    with envelope_server() as server:
        assert main(["spool", "send", "--dir", str(tmp_path), "--dsn", server.dsn(key="late")]) == 0
        assert "sent 1, rejected 0" in capsys.readouterr().out
        assert messages(server) == ["waits for a server"]
        assert "sentry_key=late" in server.auth_headers[0]
    assert main(["spool", "purge", "--dir", str(tmp_path)]) == 0
    assert "purged 0 file(s)" in capsys.readouterr().out


def test_cli_keeps_the_spool_when_the_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool(tmp_path)
    spool.create()
    spool.write(envelope_bytes(1))
    spool.write(envelope_bytes(2))
    with envelope_server() as server:
        server.status = 403
        assert main(["spool", "send", "--dir", str(tmp_path), "--dsn", server.dsn(key="typo")]) == 3
        assert len(server.auth_headers) == 1
    assert len(spool.waiting()) == 2
    assert main(["spool", "purge", "--dir", str(tmp_path)]) == 0
    assert "purged 2 file(s)" in capsys.readouterr().out


def test_two_senders_sharing_a_spool_send_each_file_once(tmp_path: Path) -> None:
    """Two `spool send` processes on one directory: every envelope arrives exactly once."""
    spool = Spool(tmp_path)
    spool.create()
    for n in range(30):
        spool.write(envelope_bytes(n))
    with envelope_server() as server:
        command = [
            sys.executable,
            "-m",
            "sentry_logging_std",
            "spool",
            "send",
            "--dir",
            str(tmp_path),
            "--dsn",
            server.dsn(),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        senders = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE) for _ in range(2)]
        for sender in senders:
            sender.communicate(timeout=60)
            assert sender.returncode == 0
        assert messages(server) == sorted(f"stored {n}" for n in range(30))
    assert spool.waiting() == []


# -- processes: exit, SIGKILL, fork --------------------------------------------------------

CHILD = """
import logging, os, sys, time
from sentry_logging_std import SentryHandler
handler = SentryHandler(dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"], flood_limit=0,
                        debug=os.environ.get("DEBUG") == "1")
handler.init()  # starts the client, and with it the replay of what waits in the spool
log = logging.getLogger("child")
log.addHandler(handler)
log.propagate = False
for n in range(int(os.environ["N"])):
    log.error("child event %d", n)
    print(handler.last_event_id, flush=True)
if os.environ.get("WAIT"):
    handler.flush()
    print("flushed", flush=True)
    time.sleep(60)
"""


def start_child(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_exit_keeps_what_was_not_delivered_and_says_so(tmp_path: Path) -> None:
    """A script that exits with the server down leaves its events in the spool (debug says
    where); the next start delivers them."""
    child = start_child(
        DSN=f"http://k@127.0.0.1:{closed_port()}/1", SPOOL=str(tmp_path), N="4", DEBUG="1"
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "sent on the next start" in err
    assert len(Spool(tmp_path).waiting()) == 4
    with envelope_server() as server:
        child = start_child(DSN=server.dsn(), SPOOL=str(tmp_path), N="0", WAIT="1")
        try:
            assert server.wait_for(4, timeout=30)
        finally:
            child.kill()
            child.communicate(timeout=30)
        assert messages(server) == [f"child event {n}" for n in range(4)]
    assert Spool(tmp_path).waiting() == []


def test_events_flushed_before_sigkill_arrive_after_restart_exactly_once(tmp_path: Path) -> None:
    """Once handler.flush() returned, a SIGKILL loses nothing: after a restart each event
    arrives once (this endpoint does not deduplicate: the spool itself sends each file once)."""
    child = start_child(
        DSN=f"http://k@127.0.0.1:{closed_port()}/1", SPOOL=str(tmp_path), N="5", WAIT="1"
    )
    assert child.stdout is not None
    lines = [child.stdout.readline().strip() for _ in range(6)]
    assert lines[-1] == "flushed"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    with envelope_server() as server:
        again = start_child(DSN=server.dsn(), SPOOL=str(tmp_path), N="0", WAIT="1")
        try:
            assert server.wait_for(5, timeout=30)
            again.stdout.readline() if again.stdout else None  # "flushed": the replay is done
        finally:
            again.kill()
            again.communicate(timeout=30)
        ids = sorted(e["event_id"] for e in server.events())
    assert ids == sorted(lines[:5])
    assert len(server.envelopes) == 5


def run_script(source: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=False,
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_forked_child_does_not_take_the_parents_claims(tmp_path: Path) -> None:
    """After fork the child's recovery leaves a claim of its (living) parent alone."""
    result = run_script(
        """
        import os
        from sentry_logging_std._spool import Spool
        spool = Spool(os.environ["SPOOL"])
        spool.create()
        claimed = spool.claim(spool.write(b"parent's"))
        pid = os.fork()
        if pid == 0:
            os._exit(Spool(os.environ["SPOOL"]).recover())
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode")
              else status >> 8, claimed.exists(), spool.waiting())
        """,
        SPOOL=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "True", "[]"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_fork_with_a_spool_sends_each_event_once(tmp_path: Path) -> None:
    """Children forked while the parent's transport is busy send their own events and share
    the spool with it: every event arrives, none twice."""
    with envelope_server() as server:
        result = run_script(
            """
            import logging, os
            from sentry_logging_std import SentryHandler
            handler = SentryHandler(dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"],
                                    flood_limit=0, shutdown_timeout=20)
            log = logging.getLogger("script")
            log.addHandler(handler)
            children = []
            for n in range(10):
                log.error("parent %d", n)
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
            SPOOL=str(tmp_path),
        )
        assert result.returncode == 0, result.stderr
        assert "done" in result.stdout
        assert server.wait_for(20, timeout=30)
        got = messages(server)
    assert got == sorted([f"parent {n}" for n in range(10)] + [f"child {n}" for n in range(10)])
    assert Spool(tmp_path).waiting() == []


def test_client_close_writes_the_queue_to_the_spool(
    tmp_path: Path, attach: list[tuple[logging.Logger, SentryHandler]]
) -> None:
    """Closing the client (as at interpreter exit) keeps every queued envelope on disk.

    The server stays silent while the spool is looked at: the envelope the
    worker is sending stays claimed. (Were the server gone, the failed send
    would move it back to ready/ between the two listings, and it would be
    in neither.)
    """
    with silent_server() as port:
        log, handler = handler_on(
            attach,
            "tests.spool.close",
            dsn=f"http://k@127.0.0.1:{port}/1",
            spool_dir=str(tmp_path),
            transport_timeout=30.0,
        )
        for n in range(10):
            log.error("queued %d", n)
        assert WORKER.flush(10)
        sentry_sdk.get_client().close(timeout=0.1)
        waiting = Spool(tmp_path).waiting()
        claimed = os.listdir(Spool(tmp_path).claimed)
    assert len(waiting) + len(claimed) == 10
    counts = handler.stats()  # still told after the client let go of its transport
    assert counts["spooled"] == 10
    assert counts["spool_kept_at_exit"] == len(waiting) + len(claimed)


def test_a_batch_is_written_together_and_one_failure_spares_the_others(tmp_path: Path) -> None:
    """write_many: every payload on disk under its own name, but the one whose file could not
    be made, which is reported as its error (the others are not held back by it)."""
    spool = Spool(tmp_path)
    spool.create()
    blocked = tmp_path / "tmp" / f"{os.getpid()}-{spool._seq + 2}.part"
    blocked.write_bytes(b"someone else's")
    results = spool.write_many([b"one", b"two", b"three"])
    assert isinstance(results[1], OSError)
    names = [r for r in results if isinstance(r, str)]
    assert len(names) == 2
    assert Spool(tmp_path).waiting() == sorted(names)
    claimed = [spool.claim(n) for n in sorted(names)]
    assert [spool.read(path) for path in claimed if path is not None] == [b"one", b"three"]
    assert spool.snapshot()["spooled"] == 2


def test_a_batch_larger_than_the_bound_keeps_the_newest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_files=3)
    spool.create()
    results = spool.write_many([str(n).encode() for n in range(5)])
    assert all(isinstance(r, str) for r in results)
    assert Spool(tmp_path).waiting() == sorted(str(r) for r in results)[-3:]
    assert spool.snapshot()["spool_evicted"] == 2
