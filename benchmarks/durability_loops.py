"""The spool's promises by the dozen: exit with 2000 queued, and SIGKILL at random moments.

Run from the repository root: ``.venv/bin/python benchmarks/durability_loops.py
[--exits 50] [--kills 10]``. The same trials as ``tests/test_durability.py``
(which runs a few per suite run), here many times, with every count printed:

- *exit*: 2000 errors logged, then a normal exit with ``shutdown_timeout=2``,
  against a black hole, a slow server (50 ms an answer) and a server that hangs up
  mid-answer; each run must account for every error: sent + on disk + counted
  drops = logged.
- *kill*: an error every 20 ms against a black hole, SIGKILL at a random moment,
  a restart against a live server: every error logged more than
  ``ON_DISK_WITHIN`` before the kill delivered, none twice.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.durability import ON_DISK_WITHIN, exit_trial, kill_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--exits", type=int, default=50, help="runs per server kind")
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    failures = 0
    for kind in ("black-hole", "slow", "hang-up"):
        exact = 0
        exits, sent, disk, dropped = [], [], [], []
        for _ in range(args.exits):
            with tempfile.TemporaryDirectory() as directory:
                result = exit_trial(kind, Path(directory))
            exact += result.accounted == result.logged
            exits.append(result.exit_seconds)
            sent.append(result.sent)
            disk.append(result.on_disk)
            dropped.append(result.counted_drops)
        failures += args.exits - exact
        print(
            f"exit, {kind}: {exact}/{args.exits} runs exact; exit median "
            f"{statistics.median(exits):.2f} s (max {max(exits):.2f}); sent "
            f"{min(sent)}-{max(sent)}, on disk {min(disk)}-{max(disk)}, counted drops "
            f"{min(dropped)}-{max(dropped)} of 2000"
        )
    seed = time.time_ns() % 1_000_000
    promised = delivered = 0
    for trial in range(args.kills):
        with tempfile.TemporaryDirectory() as directory:
            killed = kill_trial(Path(directory), seed + trial)
        problems = killed.problems()
        failures += bool(problems)
        promised += len(killed.promised)
        delivered += len(set(killed.received))
        if problems:
            print(f"kill, seed {seed + trial}: {problems}")
    print(
        f"kill: {args.kills} trials (seeds {seed}..{seed + args.kills - 1}), bound "
        f"{ON_DISK_WITHIN:g} s: {promised} errors promised, {delivered} delivered after the "
        f"restarts, {failures} failing trials in all"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
