"""Caller-thread cost of loguru's logger.exception: SentrySink vs sentry-sdk's LoguruIntegration.

Run: ``python benchmarks/bench_loguru.py`` (``--quick`` for a short run).

Each side runs in its own subprocess (sentry-sdk's LoguruIntegration adds its
loguru sinks once per process), on the same records, with a transport that
drops envelopes. Printed: median microseconds per call and the ratio
SentrySink / LoguruIntegration (below 1.0 means SentrySink is cheaper).
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


def run_side(side: str, calls: int, rounds: int) -> list[float]:
    logger.remove()
    if side == "sink":
        from sentry_logging_std import SentrySink

        logger.add(SentrySink(dsn=DSN, transport=DropTransport()), level="INFO")
    else:
        sentry_sdk.init(dsn=DSN, transport=DropTransport())  # LoguruIntegration by default
    for n in range(120):  # breadcrumbs to the limit, and warm-up
        logger.info("warm-up {}", n)
    results = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for n in range(calls):
            try:
                fail(n)
            except RuntimeError:
                logger.bind(order_id=n).exception("order {} failed", n)
        results.append((time.perf_counter_ns() - started) / calls / 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--side", choices=["sink", "integration"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    calls, rounds = (200, 3) if args.quick else (1000, 7)
    if args.side:
        print(json.dumps(run_side(args.side, calls, rounds)))
        return
    medians = {}
    for side in ("sink", "integration"):
        command = [sys.executable, str(Path(__file__)), "--side", side]
        if args.quick:
            command.append("--quick")
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        medians[side] = statistics.median(json.loads(out.strip().splitlines()[-1]))
    sink, integration = medians["sink"], medians["integration"]
    print(f"{'loguru logger.exception':<28} {'SentrySink':>12} {'LoguruIntegration':>18}")
    print(
        f"{'per call, median':<28} {sink:9.2f} us {integration:15.2f} us   "
        f"ratio {sink / integration:5.2f}"
    )


if __name__ == "__main__":
    main()
