"""Caller-thread cost of loguru's logger.exception: SentrySink vs sentry-sdk's LoguruIntegration.

Run: ``python benchmarks/bench_loguru.py`` (``--quick`` for a short run).

Each side runs in its own subprocess (sentry-sdk's LoguruIntegration adds its
loguru sinks once per process), on the same records, with a transport that
drops envelopes. Printed: median and p99 microseconds of each call on the
calling thread, and the ratio of medians SentrySink / LoguruIntegration (below
1.0 means SentrySink is cheaper).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sentry_sdk
from bench_common import DSN, DropTransport, fail
from loguru import logger

from sentry_logging_std._worker import WORKER


def run_side(side: str, calls: int, rounds: int) -> list[float]:
    logger.remove()
    if side == "sink":
        from sentry_logging_std import SentrySink

        logger.add(SentrySink(dsn=DSN, transport=DropTransport()), level="INFO")
    else:
        sentry_sdk.init(dsn=DSN, transport=DropTransport())  # LoguruIntegration by default
    for n in range(120):  # breadcrumbs to the limit, and warm-up
        logger.info("warm-up {}", n)
    latencies = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for n in range(calls):
            started = clock()
            try:
                fail(n)
            except RuntimeError:
                logger.bind(order_id=n).exception("order {} failed", n)
            latencies.append((clock() - started) / 1000)
        if side == "sink":
            WORKER.flush(60)  # the worker's backlog is not the caller's time, but must not pile up
    return latencies


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--side", choices=["sink", "integration"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    calls, rounds = (200, 3) if args.quick else (1000, 7)
    if args.side:
        print(json.dumps(run_side(args.side, calls, rounds)))
        return
    results = {}
    for side in ("sink", "integration"):
        command = [sys.executable, str(Path(__file__)), "--side", side]
        if args.quick:
            command.append("--quick")
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results[side] = json.loads(out.strip().splitlines()[-1])
    sink, integration = results["sink"], results["integration"]
    print("caller-thread microseconds per loguru logger.exception call (raise included)")
    print(f"{'':<18} {'median':>9} {'p99':>9}")
    for name, values in (("SentrySink", sink), ("LoguruIntegration", integration)):
        print(f"{name:<18} {statistics.median(values):9.1f} {p99(values):9.1f}")
    ratio = statistics.median(sink) / statistics.median(integration)
    print(f"ratio of medians (SentrySink / LoguruIntegration): {ratio:.3f}")


if __name__ == "__main__":
    main()
