"""Import cost: this package against python-json-logger, in fresh interpreters.

Each sample is a new interpreter that times the import statement alone
(median of the samples, in milliseconds). Run: ``python benchmarks/bench_import.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

ANCHOR = "import pythonjsonlogger.json"
# A program that only writes JSON lines: import, build the formatter, format
# one record (sentry-sdk must never load for it). The same with python-json-logger.
FIRST_LINE = (
    "import logging\n"
    "{imp}\n"
    "print(JsonFormatter().format(logging.LogRecord('app', 40, 'a.py', 1, 'x %s', (1,), None)),"
    " file=open('/dev/null', 'w'))"
)
JSON_ONLY = FIRST_LINE.format(imp="from sentry_logging_std import JsonFormatter")
JSON_ONLY_ANCHOR = FIRST_LINE.format(imp="from pythonjsonlogger.json import JsonFormatter")
CASES = [
    "import sentry_logging_std",
    "from sentry_logging_std import JsonFormatter",
    "from sentry_logging_std import SentryHandler",
    ANCHOR,
    JSON_ONLY,
    JSON_ONLY_ANCHOR,
]
LABELS = {
    JSON_ONLY: "JsonFormatter: import, build, first line",
    JSON_ONLY_ANCHOR: "python-json-logger: import, build, first line",
}

TIMER = """
import time
started = time.perf_counter()
{statement}
print(time.perf_counter() - started)
"""


# Compiled modules are cached as an installed package's are (pip writes them
# at install): a setting that turns the cache off would time the compiler.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def seconds(statement: str) -> float:
    run = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    return float(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    medians: dict[str, list[float]] = {}
    for statement in CASES:  # untimed: writes the compiled-module caches
        seconds(statement)
    for _ in range(args.samples):  # interleaved, so a busy moment hits every case
        for statement in CASES:
            medians.setdefault(statement, []).append(seconds(statement))
    anchor = statistics.median(medians[ANCHOR])
    line_anchor = statistics.median(medians[JSON_ONLY_ANCHOR])
    for statement, samples in medians.items():
        value = statistics.median(samples)
        label = LABELS.get(statement, statement)
        if statement == JSON_ONLY:
            ratio = f"{value / line_anchor:5.2f}x python-json-logger's"
        elif statement == JSON_ONLY_ANCHOR:
            ratio = "(anchor of the line above)"
        else:
            ratio = f"{value / anchor:5.2f}x the anchor"
            if statement == ANCHOR:
                ratio += " (anchor)"
        print(f"{label:48s} {value * 1000:7.1f} ms  {ratio}")


if __name__ == "__main__":
    main()
