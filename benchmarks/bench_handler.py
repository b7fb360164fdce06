"""Caller-thread cost of logging through SentryHandler vs sentry-sdk's LoggingIntegration.

Run: ``python benchmarks/bench_handler.py`` (``--quick`` for a short run,
``--only first-error`` for the last case alone).

Both sides log the same records, in the same process, alternating rounds, with
the same transport (one that drops envelopes), so what is measured is the work
done on the calling thread: building, scrubbing and serialising the event,
breadcrumbs, locks. Printed: median microseconds per call and the ratio
SentryHandler / sentry-sdk (below 1.0 means SentryHandler is cheaper). The
no-DSN line compares a SentryHandler without any DSN to a logger with no
handler at all. The size lines compare, through SentryHandler alone, an error
whose message is 10 MiB with one of 10 KiB (ratio 10 MiB / 10 KiB): in the
background the caller should not pay for the size; with ``capture="sync"`` it
pays for building the event, which is cut to size before anything else reads it.

The first-error case times the first ``logger.exception`` of a fresh
process, one interpreter per sample, the server black-holed: SentryHandler
configured with ``dictConfig`` (the client not started: the first record
starts it) against sentry-sdk started with ``sentry_sdk.init`` beforehand,
as its users do; then the second call of each side, once the client is up
and the first event flushed. Printed: median, min and max microseconds, and
the ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import sentry_sdk
from bench_common import DSN, DropTransport, black_hole, fail

import sentry_logging_std
from sentry_logging_std import SentryHandler
from sentry_logging_std._client import INITIALIZER
from sentry_logging_std._worker import WORKER

#: One fresh process of the first-error case: imports and configuration first,
#: then only the first ``log.exception`` call is timed (and, once the client is
#: up and the first event flushed, the second). Only what a user's program
#: imports is imported: what the first call imports is its own cost.
FIRST_ERROR_SCRIPT = """
import json, logging, logging.config, os, sys, time
dsn, side, budget = os.environ["DSN"], os.environ["SIDE"], 0.1
handlers = {"null": {"class": "logging.NullHandler"}}  # no lastResort printing to stderr
if side == "ours":
    handlers["sentry"] = {
        "class": "sentry_logging_std.SentryHandler", "dsn": dsn, "shutdown_timeout": budget
    }
else:
    import sentry_sdk
    sentry_sdk.init(dsn=dsn, shutdown_timeout=budget)  # LoggingIntegration: events from ERROR
logging.config.dictConfig({
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": handlers,
    "loggers": {
        "bench.first": {"handlers": list(handlers), "level": "INFO", "propagate": False},
    },
})
log = logging.getLogger("bench.first")
if side == "ours":
    handler = log.handlers[-1]  # the SentryHandler, listed last

    def settle():
        # The client may be started off the calling thread: wait for it, then
        # for the first event, so the second call finds the steady state.
        deadline = time.monotonic() + 30
        while not handler.running and time.monotonic() < deadline:
            time.sleep(0.005)
        assert handler.running, "no client 30 s after the first error"
        handler.flush()  # at most the budget: the send never completes
else:
    def settle():
        sentry_sdk.flush(timeout=budget)  # at most the budget: the send never completes

def fail(order_id):
    try:
        raise KeyError(order_id)
    except KeyError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc

took = []
for order_id in (1, 2):
    try:
        fail(order_id)
    except RuntimeError:
        started = time.perf_counter()
        log.exception("order %s failed", order_id)
        took.append((time.perf_counter() - started) * 1e6)
    settle()
package = sys.modules.get("sentry_logging_std")
print(json.dumps({"took": took, "package": package and package.__file__}), flush=True)
# A normal exit: shutdown_timeout=0.1 keeps it short against the black hole on both sides.
"""


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
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    for handler in log.handlers[:]:
        log.removeHandler(handler)
    log.addHandler(logging.NullHandler())
    return log


def op_info(log: logging.Logger, n: int) -> None:
    log.info("order %s loaded", n, extra={"order_id": n})


def op_error(log: logging.Logger, n: int) -> None:
    log.error("order %s failed", n, extra={"order_id": n})


#: Messages of 10 MiB and 10 KiB. Module constants, so that the logging frame's
#: variables (which the event carries) do not hold them as well.
HUGE = "x" * (10 * 1024 * 1024)
SMALL = "x" * (10 * 1024)


def op_huge(log: logging.Logger, n: int) -> None:
    log.error(HUGE)


def op_small(log: logging.Logger, n: int) -> None:
    log.error(SMALL)


def op_huge_argument(log: logging.Logger, n: int) -> None:
    log.error("payload %s", HUGE)


def op_small_argument(log: logging.Logger, n: int) -> None:
    log.error("payload %s", SMALL)


def op_exception(log: logging.Logger, n: int) -> None:
    try:
        fail(n)
    except RuntimeError:
        log.exception("order %s failed", n, extra={"order_id": n})


def measure(
    setup: Callable[[], logging.Logger], op: Callable[[logging.Logger, int], None], calls: int
) -> list[float]:
    """Microseconds of each call, after the scope holds 100 breadcrumbs."""
    log = setup()
    for n in range(120):  # fill the breadcrumb buffer (100) and warm up
        log.info("warm-up %d", n)
    WORKER.flush(30)
    clock = time.perf_counter_ns
    latencies = []
    for n in range(calls):
        started = clock()
        op(log, n)
        latencies.append((clock() - started) / 1000)
    WORKER.flush(60)  # the worker's backlog is not the caller's time, but must not pile up
    return latencies


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def compare(
    name: str,
    ours: Callable[[], logging.Logger],
    theirs: Callable[[], logging.Logger],
    op: Callable[[logging.Logger, int], None],
    calls: int,
    rounds: int,
) -> None:
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.extend(measure(ours, op, calls))
        b.extend(measure(theirs, op, calls))
    mine, other = statistics.median(a), statistics.median(b)
    print(
        f"{name:<30} {mine:9.1f} {p99(a):9.1f}   {other:9.1f} {p99(b):9.1f}   "
        f"ratio {mine / other:6.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval(SECONDS) first: how long a thread waiting for the GIL waits "
        "while the capture worker holds it (Python's default is 0.005)",
    )
    parser.add_argument(
        "--spool",
        action="store_true",
        help="also compare SentryHandler with spool_dir (a temporary directory; the "
        "transport's thread writes and fsyncs every envelope) to SentryHandler without",
    )
    parser.add_argument(
        "--only",
        choices=["first-error"],
        help="run this case alone: first-error, the first logger.exception of a fresh process",
    )
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    calls, rounds = (200, 3) if args.quick else (500, 7)
    samples = 5 if args.quick else 15
    if args.only == "first-error":
        first_error(samples)
        return
    logging.raiseExceptions = True

    def ours() -> logging.Logger:
        return setup_handler(dsn=DSN, transport=DropTransport(), flood_limit=0)

    def ours_sync() -> logging.Logger:
        return setup_handler(dsn=DSN, transport=DropTransport(), capture="sync", flood_limit=0)

    print("caller-thread microseconds per call, 100 breadcrumbs in scope; ratio of medians")
    print(f"{'':<30} {'SentryHandler':>19}   {'sentry-sdk':>19}")
    print(f"{'':<30} {'median':>9} {'p99':>9}   {'median':>9} {'p99':>9}")
    operations = (
        ("logger.info (breadcrumb)", op_info),
        ("logger.error", op_error),
        ("logger.exception", op_exception),
    )
    for name, op in operations:
        compare(name, ours, setup_sdk, op, calls, rounds)
    for name, op in operations[1:]:
        compare(f"{name} capture=sync", ours_sync, setup_sdk, op, calls, rounds)

    with black_hole() as port:
        dsn = f"http://publickey@127.0.0.1:{port}/1"

        def ours_blackholed() -> logging.Logger:
            return setup_handler(dsn=dsn, transport_timeout=1.0, flood_limit=0)

        def sdk_blackholed() -> logging.Logger:
            reset()
            sentry_sdk.init(dsn=dsn)
            return setup_bare()

        print("\nthe server black-holed (accepts, never answers)")
        compare("logger.exception", ours_blackholed, sdk_blackholed, op_exception, calls, rounds)

    if args.spool:
        spool_comparison(operations, calls, rounds)

    size_comparison(max(5, calls // 20), rounds)

    def no_dsn() -> logging.Logger:
        return setup_handler()

    first_error(samples)

    print(f"\n{'no DSN anywhere':<30} {'SentryHandler':>9} {'bare logger':>12}")
    for name, op in (("logger.info", op_info), ("logger.error", op_error)):
        a, b = [], []
        for _ in range(rounds):
            a.append(statistics.median(measure(no_dsn, op, calls * 4)))
            b.append(statistics.median(measure(setup_bare, op, calls * 4)))
        mine, bare = statistics.median(a), statistics.median(b)
        print(f"{name:<30} {mine:9.2f} us {bare:9.2f} us   extra {mine - bare:5.2f} us")
    reset()


def first_error_sample(side: str, dsn: str) -> list[float]:
    """Microseconds of the first and second ``log.exception`` in a new interpreter."""
    # The child finds the package the way this process did: its directory first
    # on the path, and as the working directory ('' leads the path under -c).
    root = str(Path(sentry_logging_std.__file__).resolve().parent.parent)
    run = subprocess.run(
        [sys.executable, "-c", FIRST_ERROR_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={**os.environ, "PYTHONPATH": root, "DSN": dsn, "SIDE": side},
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if side == "ours" and result["package"] != sentry_logging_std.__file__:
        raise RuntimeError(f"the child imported {result['package']}")
    return [float(took) for took in result["took"]]


def first_error(samples: int) -> None:
    """The first error of a fresh process, one interpreter per sample, sides alternating."""
    first: dict[str, list[float]] = {"ours": [], "sdk": []}
    second: dict[str, list[float]] = {"ours": [], "sdk": []}
    with black_hole() as port:
        dsn = f"http://publickey@127.0.0.1:{port}/1"
        for n in range(samples):
            for side in ("ours", "sdk") if n % 2 == 0 else ("sdk", "ours"):
                took = first_error_sample(side, dsn)
                first[side].append(took[0])
                second[side].append(took[1])
    print(
        f"\nfirst error of a fresh process ({samples} interpreters per side, server black-holed;"
        f" {Path(sentry_logging_std.__file__).parent})"
    )
    print(f"{'':<30} {'SentryHandler':>29}   {'sentry-sdk':>29}")
    print(f"{'':<30} {'median':>9} {'min':>9} {'max':>9}   {'median':>9} {'min':>9} {'max':>9}")
    for name, times in (("first logger.exception", first), ("second, client up, flushed", second)):
        a, b = times["ours"], times["sdk"]
        mine, other = statistics.median(a), statistics.median(b)
        print(
            f"{name:<30} {mine:9.1f} {min(a):9.1f} {max(a):9.1f}   "
            f"{other:9.1f} {min(b):9.1f} {max(b):9.1f}   ratio {mine / other:6.3f}"
        )
    mine = statistics.median(first["ours"])
    print(f"target: SentryHandler's first call <= 2000 us: {'met' if mine <= 2000 else 'NOT met'}")


def size_comparison(calls: int, rounds: int) -> None:
    """The caller's cost of a 10 MiB message vs a 10 KiB one, through SentryHandler alone."""

    def background() -> logging.Logger:
        return setup_handler(dsn=DSN, transport=DropTransport(), flood_limit=0)

    def sync() -> logging.Logger:
        return setup_handler(dsn=DSN, transport=DropTransport(), capture="sync", flood_limit=0)

    print(f"\n{'message size':<30} {'10 MiB':>19}   {'10 KiB':>19}")
    for name, setup, huge, small in (
        ("logger.error(message)", background, op_huge, op_small),
        ("logger.error('%s', message)", background, op_huge_argument, op_small_argument),
        ("logger.error(message) sync", sync, op_huge, op_small),
    ):
        a: list[float] = []
        b: list[float] = []
        for _ in range(rounds):
            a.extend(measure(setup, huge, calls))
            b.extend(measure(setup, small, calls))
        mine, other = statistics.median(a), statistics.median(b)
        print(
            f"{name:<30} {mine:9.1f} {p99(a):9.1f}   {other:9.1f} {p99(b):9.1f}   "
            f"ratio {mine / other:6.3f}"
        )
    reset()


def spool_comparison(
    operations: tuple[tuple[str, Callable[[logging.Logger, int], None]], ...],
    calls: int,
    rounds: int,
) -> None:
    """The caller's cost with a spool (no DSN: every envelope is written) vs without."""
    with tempfile.TemporaryDirectory() as directory:

        def spooled() -> logging.Logger:
            return setup_handler(spool_dir=directory, flood_limit=0)

        def plain() -> logging.Logger:
            return setup_handler(dsn=DSN, transport=DropTransport(), flood_limit=0)

        print(f"\n{'with spool_dir':<30} {'spool_dir':>19}   {'no spool':>19}")
        for name, op in operations:
            compare(name, spooled, plain, op, calls, rounds)
        reset()


if __name__ == "__main__":
    main()
