"""Caller-thread cost of logging through SentryHandler vs sentry-sdk's LoggingIntegration.

Run: ``python benchmarks/bench_handler.py`` (``--quick`` for a short run).

Both sides log the same records, in the same process, alternating rounds, with
the same transport (one that drops envelopes), so what is measured is the work
done on the calling thread: building, scrubbing and serialising the event,
breadcrumbs, locks. Printed: median microseconds per call and the ratio
SentryHandler / sentry-sdk (below 1.0 means SentryHandler is cheaper). The
no-DSN line compares a SentryHandler without any DSN to a logger with no
handler at all.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Any, Callable

import sentry_sdk
from bench_common import DSN, DropTransport, fail

from sentry_logging_std import SentryHandler
from sentry_logging_std._client import INITIALIZER


def reset() -> None:
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=0)
    sentry_sdk.Scope.get_global_scope().set_client(None)
    for scope in (sentry_sdk.Scope.get_isolation_scope(), sentry_sdk.Scope.get_current_scope()):
        scope.clear()
    INITIALIZER.reset()
    log = logging.getLogger("bench")
    for handler in log.handlers[:]:
        log.removeHandler(handler)


def setup_sdk() -> logging.Logger:
    reset()
    sentry_sdk.init(dsn=DSN, transport=DropTransport())
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(logging.NullHandler())  # no lastResort printing to stderr
    return log


def setup_handler(**options: Any) -> logging.Logger:
    reset()
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(SentryHandler(**options))
    return log


def setup_bare() -> logging.Logger:
    reset()
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(logging.NullHandler())
    return log


def op_info(log: logging.Logger, n: int) -> None:
    log.info("order %s loaded", n, extra={"order_id": n})


def op_error(log: logging.Logger, n: int) -> None:
    log.error("order %s failed", n, extra={"order_id": n})


def op_exception(log: logging.Logger, n: int) -> None:
    try:
        fail(n)
    except RuntimeError:
        log.exception("order %s failed", n, extra={"order_id": n})


def measure(
    setup: Callable[[], logging.Logger], op: Callable[[logging.Logger, int], None], calls: int
) -> float:
    log = setup()
    for n in range(120):  # fill the breadcrumb buffer (100) and warm up
        log.info("warm-up %d", n)
    started = time.perf_counter_ns()
    for n in range(calls):
        op(log, n)
    return (time.perf_counter_ns() - started) / calls / 1000


def compare(
    name: str,
    ours: Callable[[], logging.Logger],
    theirs: Callable[[], logging.Logger],
    op: Callable[[logging.Logger, int], None],
    calls: int,
    rounds: int,
) -> None:
    a, b = [], []
    for _ in range(rounds):
        a.append(measure(ours, op, calls))
        b.append(measure(theirs, op, calls))
    mine, other = statistics.median(a), statistics.median(b)
    print(f"{name:<34} {mine:9.2f} us {other:9.2f} us   ratio {mine / other:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args()
    calls, rounds = (300, 3) if args.quick else (2000, 7)
    logging.raiseExceptions = True

    def ours() -> logging.Logger:
        return setup_handler(dsn=DSN, transport=DropTransport())

    print(
        f"{'per call, median of ' + str(rounds) + ' rounds':<34} {'SentryHandler':>12} "
        f"{'sentry-sdk':>12}"
    )
    for name, op in (
        ("logger.info (breadcrumb)", op_info),
        ("logger.error", op_error),
        ("logger.exception", op_exception),
    ):
        compare(name, ours, setup_sdk, op, calls, rounds)

    def no_dsn() -> logging.Logger:
        return setup_handler()

    print(f"\n{'no DSN anywhere':<34} {'SentryHandler':>12} {'bare logger':>12}")
    for name, op in (("logger.info", op_info), ("logger.error", op_error)):
        a, b = [], []
        for _ in range(rounds):
            a.append(measure(no_dsn, op, calls * 10))
            b.append(measure(setup_bare, op, calls * 10))
        mine, bare = statistics.median(a), statistics.median(b)
        print(f"{name:<34} {mine:9.2f} us {bare:9.2f} us   extra {mine - bare:5.2f} us")
    reset()


if __name__ == "__main__":
    main()
