"""Import cost: this package against python-json-logger, in fresh interpreters.

Each sample is a new interpreter that times the import statement alone
(median of the samples, in milliseconds). Run: ``python benchmarks/bench_import.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

ANCHOR = "import pythonjsonlogger.json"
CASES = [
    "import sentry_logging_std",
    "from sentry_logging_std import JsonFormatter",
    "from sentry_logging_std import SentryHandler",
    ANCHOR,
]

TIMER = """
import time
started = time.perf_counter()
{statement}
print(time.perf_counter() - started)
"""


def seconds(statement: str) -> float:
    run = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    medians: dict[str, list[float]] = {}
    for _ in range(args.samples):  # interleaved, so a busy moment hits every case
        for statement in CASES:
            medians.setdefault(statement, []).append(seconds(statement))
    anchor = statistics.median(medians[ANCHOR])
    for statement, samples in medians.items():
        value = statistics.median(samples)
        label = statement + (" (anchor)" if statement == ANCHOR else "")
        print(f"{label:48s} {value * 1000:7.1f} ms  {value / anchor:5.2f}x the anchor")


if __name__ == "__main__":
    main()
