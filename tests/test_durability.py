"""The spool's promises under a hung send, at exit and under SIGKILL, in real processes.

Each test runs a few trials; benchmarks/durability_loops.py runs the same
trials by the dozen and prints the counts.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from sentry_logging_std import SentryHandler
from sentry_logging_std._spool import Spool
from tests.durability import ON_DISK_WITHIN, exit_trial, kill_trial, on_disk
from tests.envelope_server import silent_server


def test_a_hung_send_does_not_hold_the_writer(tmp_path: Path) -> None:
    """While the first send hangs (transport_timeout=30 against a silent server), every
    later error still reaches the disk, without a flush, well within the send's timeout."""
    with silent_server() as port:
        handler = SentryHandler(
            dsn=f"http://k@127.0.0.1:{port}/1",
            spool_dir=str(tmp_path),
            flood_limit=0,
            transport_timeout=30.0,
        )
        log = logging.getLogger("tests.durability.hung")
        log.addHandler(handler)
        log.propagate = False
        try:
            log.error("first")
            spool = Spool(tmp_path)
            deadline = time.monotonic() + 10
            while not os.listdir(spool.claimed) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert os.listdir(spool.claimed), "the first send never started"
            for n in range(20):
                log.error("behind the hung send %d", n)
                time.sleep(0.01)
            # The writer renames a batch into the spool, then settles its count:
            # wait for both, so that the file and the count are read after the write.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                on_disk(tmp_path) < 21 or handler.stats()["pending"] > 1
            ):
                time.sleep(0.01)
            assert on_disk(tmp_path) == 21
            assert handler.stats()["pending"] <= 1  # only the send in flight
        finally:
            log.removeHandler(handler)
            handler.close()


@pytest.mark.parametrize("kind", ["black-hole", "slow", "hang-up"])
def test_exit_accounts_for_every_error(tmp_path: Path, kind: str) -> None:
    """2000 errors queued, then a normal exit with shutdown_timeout=2: every one is sent,
    on disk, or counted under a drop reason — exactly, in each of 3 runs — and the exit
    keeps to its budget (plus the one batch being written)."""
    for trial in range(3):
        directory = tmp_path / str(trial)
        result = exit_trial(kind, directory)
        assert result.accounted == result.logged, (kind, trial, result)
        assert result.exit_seconds < 2.0 + 3.0, (kind, trial, result)
        assert result.server_requests >= result.sent


def test_sigkill_at_a_random_moment_loses_nothing_promised_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """An error logged every 20 ms against a black hole; SIGKILL at a random moment; a
    restart against a live server delivers every error logged more than ON_DISK_WITHIN
    before the kill, none twice, nothing that was not logged (10 trials)."""
    seed = int(os.environ.get("SLS_TEST_SEED", time.time_ns() % 1_000_000))
    for trial in range(10):
        result = kill_trial(tmp_path / str(trial), seed + trial)
        assert result.promised, f"seed {seed + trial}: nothing was logged in time"
        problems = result.problems()
        assert not problems, (
            f"seed {seed + trial} (SLS_TEST_SEED={seed}, trial {trial}, bound "
            f"{ON_DISK_WITHIN}s): {problems}"
        )
