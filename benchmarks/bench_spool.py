"""How fast the spool takes a burst, and what an exit against a black hole costs.

Run from the repository root: ``.venv/bin/python benchmarks/bench_spool.py [--rounds 5]``.

1. *Time to disk*: 1000 ``logger.error`` calls in a burst through a
   ``SentryHandler`` with ``spool_dir``, its server a black hole (accepts,
   never answers); the time from the first call until all 1000 envelopes are
   files in ``ready/`` (fsynced), median of the rounds. The events are built
   on the capture worker first, so this is building plus writing.
2. *Exit*: a script logs 2000 errors against the black hole and exits, with
   ``shutdown_timeout=2``: the wall time from the end of its main code to the
   end of its process (every exit stage, whatever order the hooks run in), and how many envelopes
   are on disk, with the spool; and the exit time of the same script through
   sentry-sdk's own logging integration (no spool) with the same
   ``shutdown_timeout``, the anchor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench_common import black_hole

from sentry_logging_std._spool import Spool

ROOT = Path(__file__).resolve().parent.parent


BURST_SCRIPT = """
import logging, os, time
from sentry_logging_std import SentryHandler
from sentry_logging_std._spool import Spool
count = int(os.environ["COUNT"])
handler = SentryHandler(
    dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"], flood_limit=0,
    queue_size=count * 2, spool_max_files=count * 2, transport_timeout=30.0,
    shutdown_timeout=0.1,
)
log = logging.getLogger("bench.spool")
log.addHandler(handler)
spool = Spool(os.environ["SPOOL"])
started = time.perf_counter()
for n in range(count):
    log.error("burst %d", n)
took = float("inf")
while time.perf_counter() - started < 60:
    # The one being sent is claimed: count it too.
    if len(spool.waiting()) + len(os.listdir(spool.claimed)) >= count:
        took = time.perf_counter() - started
        break
    time.sleep(0.005)
print(f"took {took:.4f}")
"""


def burst(port: int, count: int) -> float:
    """Seconds from the first of *count* errors until every one is a file in ready/
    (a fresh process each time: one client, one spool)."""
    with tempfile.TemporaryDirectory() as directory:
        result = run(BURST_SCRIPT, port, directory, COUNT=str(count))
        return float(result.rsplit("took ", 1)[1]) if "took " in result else float("inf")


def run(script: str, port: int, directory: str, **env: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DSN": f"http://k@127.0.0.1:{port}/1",
            "SPOOL": directory,
            **env,
        },
        check=False,
    ).stdout


EXIT_SCRIPT = """
import atexit, logging, os, sys, time
if os.environ["WHO"] == "ours":
    from sentry_logging_std import SentryHandler
    atexit.register(lambda: print(f"dropped {handler.stats().get('dropped_at_exit', 0)}"))
    handler = SentryHandler(
        dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"], shutdown_timeout=2.0,
        transport_timeout=30.0, flood_limit=0, queue_size=5000, spool_max_files=5000,
    )
    logging.getLogger().addHandler(handler)
else:
    import sentry_sdk
    sentry_sdk.init(dsn=os.environ["DSN"], shutdown_timeout=2.0)
for n in range(2000):
    logging.getLogger("script").error("into the void %d", n)
# The exit is timed from here to the process's end, by the parent: every
# stage of it (threads joined, exit hooks in any order) is inside.
print(f"main done {time.time():.6f}", flush=True)
"""


def exit_run(port: int, who: str) -> tuple[float, int, int]:
    """The exit's wall time, the envelopes on disk after it, and those counted as
    ``dropped_at_exit`` (not built or not written within the budget)."""
    with tempfile.TemporaryDirectory() as directory:
        output = run(EXIT_SCRIPT, port, directory, WHO=who)
        ended = time.time()
        done = output.split("main done ", 1)
        took = ended - float(done[1].split()[0]) if len(done) == 2 else -1.0
        dropped = int(output.split("dropped ", 1)[1].split()[0]) if "dropped " in output else 0
        spool = Spool(directory)
        on_disk = len(spool.waiting()) + len(os.listdir(spool.claimed)) if who == "ours" else 0
        return took, on_disk, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with black_hole() as port:
        times = [burst(port, 1000) for _ in range(args.rounds)]
        median = statistics.median(times)
        print(
            f"1000 errors to disk (spool, black-holed server): median {median:.3f} s"
            f" (rounds: {', '.join(f'{t:.3f}' for t in times)})"
        )
        for who, title in (("ours", "SentryHandler + spool"), ("sdk", "sentry-sdk logging")):
            runs = [exit_run(port, who) for _ in range(args.rounds)]
            exits = [took for took, _, _ in runs]
            line = f"exit with 2000 errors logged, shutdown_timeout=2, {title}: median"
            line += f" {statistics.median(exits):.2f} s (max {max(exits):.2f})"
            if who == "ours":
                line += ", on disk + dropped_at_exit: " + ", ".join(
                    f"{disk}+{dropped}" for _, disk, dropped in runs
                )
            print(line)


if __name__ == "__main__":
    main()
