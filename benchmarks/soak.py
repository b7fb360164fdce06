"""Soak: mixed logging load into a real Bugsink through a proxy that cycles through faults.

Run: ``python benchmarks/soak.py`` (10 minutes; ``--minutes 1 --cycle 3.5`` for a short check).
Not part of the test suite: it is long, and it reports rather than asserts.

It starts its own Bugsink (``tests/e2e/bugsink.py``) and a fault proxy in front of it
(``tests/fault_proxy.py``) that spends ``--cycle`` seconds in each mode — passing, refusing,
resetting, black-holing, slow, answering 429 with Retry-After, 500 and (one request in three)
413 itself, losing the server's answers — with a passing phase between faults. Several threads
log at ``--rate`` calls per second in all: INFO records (breadcrumbs), errors, and exceptions
with a chained cause, through one ``SentryHandler`` per thread (and one loguru thread through
``SentrySink``), with a durable spool (``spool_dir``) when the library has it. Then the proxy
passes traffic, the handlers drain (bounded by ``--drain``), and it prints:

* events logged, delivered (stored in Bugsink, by event id), spooled, dropped by reason, and
  delivered + dropped - logged (0 when every loss is counted; above 0 when an event counted as
  dropped reached the server anyway, as when its answer was lost);
* peak RSS of this process (``resource.getrusage``) and RSS at start and end;
* log-call latency percentiles on the calling threads.

Exit status 1 when an event was lost without being counted, or a log call raised; else 0.
Everything binds to 127.0.0.1; the proxy and Bugsink stop by themselves at the end (the proxy
also after a hard lifetime).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from loguru import logger as loguru_logger  # noqa: E402

from sentry_logging_std import SentryHandler, SentrySink  # noqa: E402
from sentry_logging_std._options import DEFAULTS  # noqa: E402
from tests.e2e.bugsink import Bugsink, start_bugsink  # noqa: E402
from tests.fault_proxy import FaultProxy  # noqa: E402

#: The proxy's cycle: a fault, then a passing phase, in this order, repeated.
FAULTS: tuple[str, ...] = (
    "refuse",
    "blackhole",
    "slow",
    "429",
    "500",
    "reset",
    "lose_answer",
    "413",
)
RETRY_AFTER = 5.0


class OrderError(Exception):
    pass


def apply(proxy: FaultProxy, mode: str) -> None:
    if mode == "pass":
        proxy.set_pass()
    elif mode == "refuse":
        proxy.set_refuse()
    elif mode == "reset":
        proxy.set_reset()
    elif mode == "blackhole":
        proxy.set_blackhole()
    elif mode == "slow":
        proxy.set_slow(delay=0.3, chunk=256, interval=0.01)
    elif mode == "lose_answer":
        proxy.set_lose_answer()
    elif mode == "429":
        proxy.set_rate_limited(RETRY_AFTER)
    elif mode == "413":
        # Final for the event it answers: one request in three, or the spool's whole backlog
        # would be refused at once.
        proxy.set_answer(413, every=3)
    else:
        proxy.set_answer(int(mode))


def rss_kib() -> Optional[int]:
    """Resident set size now, in KiB (Linux ``/proc``), or None elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024 if sys.platform == "darwin" else peak)  # bytes on macOS


@dataclass
class Load:
    """What one logging thread did."""

    name: str
    latencies: list[float] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    breadcrumbs: int = 0
    errors: int = 0


def stdlib_thread(
    load: Load, handler: SentryHandler, interval: float, stop: threading.Event
) -> None:
    log = logging.getLogger(f"soak.{load.name}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    n = 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            kind = n % 10
            started = time.perf_counter()
            try:
                if kind < 6:
                    log.info("order %d: cart step %d", n, kind, extra={"step": kind})
                elif kind < 8:
                    log.error("order %d: stock below zero", n, extra={"order": n})
                else:
                    try:
                        try:
                            raise ConnectionError(f"gateway gone for order {n}")
                        except ConnectionError as exc:
                            raise OrderError(f"order {n} not charged") from exc
                    except OrderError:
                        log.exception("order %d failed", n, extra={"order": n})
            except Exception as exc:  # the soak's point: the library never raises
                load.errors += 1
                print(f"[soak] a log call raised: {exc!r}", file=sys.stderr)
            load.latencies.append(time.perf_counter() - started)
            if kind < 6:
                load.breadcrumbs += 1
            elif handler.last_event_id is not None:
                load.event_ids.append(handler.last_event_id)
            n += 1
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))
    finally:
        log.removeHandler(handler)


def loguru_thread(load: Load, sink: SentrySink, interval: float, stop: threading.Event) -> None:
    sink_id = loguru_logger.add(sink, level="INFO")
    bound = loguru_logger.bind(thread_name=load.name)
    n = 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            kind = n % 10
            started = time.perf_counter()
            try:
                if kind < 6:
                    bound.info("order {}: cart step {}", n, kind)
                elif kind < 8:
                    bound.error("order {}: stock below zero", n)
                else:
                    try:
                        raise OrderError(f"order {n} not charged")
                    except OrderError:
                        bound.exception("order {} failed", n)
            except Exception as exc:
                load.errors += 1
                print(f"[soak] a loguru call raised: {exc!r}", file=sys.stderr)
            load.latencies.append(time.perf_counter() - started)
            if kind < 6:
                load.breadcrumbs += 1
            elif sink.last_event_id is not None:
                load.event_ids.append(sink.last_event_id)
            n += 1
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))
    finally:
        loguru_logger.remove(sink_id)


def cycle_proxy(proxy: FaultProxy, cycle: float, stop: threading.Event, visited: list[str]) -> None:
    phase = 0
    while not stop.is_set():
        mode = "pass" if phase % 2 == 0 else FAULTS[(phase // 2) % len(FAULTS)]
        apply(proxy, mode)
        visited.append(mode)
        phase += 1
        stop.wait(cycle)


def stored_ids(bugsink: Bugsink) -> list[str]:
    """Event ids of every event Bugsink stored (one per stored event, duplicates kept)."""
    return [
        str(event["event_id"]).replace("-", "")
        for issue in bugsink.issues()
        for event in bugsink.events(str(issue["id"]))
    ]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drain(stats: Callable[[], dict[str, Any]], flush: Callable[[], None], timeout: float) -> bool:
    """Flush and wait (at most *timeout*) until nothing is pending anywhere."""
    deadline = time.monotonic() + timeout
    while True:
        flush()
        now = stats()
        if not (now.get("pending") or now.get("capture_pending") or now.get("spool_waiting")):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mixed logging load into Bugsink through a proxy cycling through faults."
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (10)")
    parser.add_argument("--rate", type=float, default=20.0, help="log calls per second (20)")
    parser.add_argument("--threads", type=int, default=3, help="stdlib logging threads (3)")
    parser.add_argument("--no-loguru", action="store_true", help="no loguru thread")
    parser.add_argument("--cycle", type=float, default=20.0, help="seconds per proxy mode (20)")
    parser.add_argument("--no-spool", action="store_true", help="no spool_dir even if available")
    parser.add_argument("--transport", choices=("background", "sync"), default="background")
    parser.add_argument("--transport-timeout", type=float, default=2.0)
    parser.add_argument("--drain", type=float, default=150.0, help="max seconds to drain (150)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.threads < 1 or args.cycle <= 0:
        parser.error("--minutes, --rate and --cycle must be positive, --threads at least 1")

    duration = args.minutes * 60.0
    workers = args.threads + (0 if args.no_loguru else 1)
    interval = workers / args.rate
    use_spool = "spool_dir" in DEFAULTS and not args.no_spool
    loguru_logger.remove()  # loguru's own stderr sink: the soak prints a summary instead
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    rss_start = rss_kib()
    print(f"[soak] starting Bugsink in {work}", file=sys.stderr, flush=True)
    bugsink = start_bugsink(work / "bugsink")
    upstream = urllib.parse.urlsplit(bugsink.url)
    assert upstream.hostname is not None
    assert upstream.port is not None
    options: dict[str, Any] = {
        "transport": args.transport,
        "transport_timeout": args.transport_timeout,
        "shutdown_timeout": 2.0,
        "flood_limit": 0,  # every error is an event, so logged and stored can be compared
    }
    if use_spool:
        options["spool_dir"] = str(work / "spool")
    loads: list[Load] = []
    visited: list[str] = []
    handlers: list[SentryHandler] = []
    sink: Optional[SentrySink] = None
    try:
        with FaultProxy(
            (upstream.hostname, upstream.port), lifetime=duration + args.drain + 120.0
        ) as proxy:
            dsn = proxy.dsn(bugsink.dsn)
            stop = threading.Event()
            threads: list[threading.Thread] = []
            for index in range(args.threads):
                handler = SentryHandler(dsn=dsn, **options)
                handlers.append(handler)
                load = Load(f"stdlib-{index}")
                loads.append(load)
                threads.append(
                    threading.Thread(
                        target=stdlib_thread, args=(load, handler, interval, stop), daemon=True
                    )
                )
            if not args.no_loguru:
                sink = SentrySink(dsn=dsn, **options)
                load = Load("loguru")
                loads.append(load)
                threads.append(
                    threading.Thread(
                        target=loguru_thread, args=(load, sink, interval, stop), daemon=True
                    )
                )
            handlers[0].init()
            cycler = threading.Thread(
                target=cycle_proxy, args=(proxy, args.cycle, stop, visited), daemon=True
            )
            started = time.monotonic()
            print(
                f"[soak] {args.minutes:g} min, {args.rate:g} calls/s over {workers} threads, "
                f"spool={'on' if use_spool else 'off'}, transport={args.transport}",
                file=sys.stderr,
                flush=True,
            )
            cycler.start()
            for thread in threads:
                thread.start()
            while not stop.wait(min(10.0, max(0.0, started + duration - time.monotonic()))):
                if time.monotonic() >= started + duration:
                    stop.set()
                else:
                    print(
                        f"[soak] {time.monotonic() - started:5.0f}s mode={proxy.mode} "
                        f"stats={handlers[0].stats()}",
                        file=sys.stderr,
                        flush=True,
                    )
            for thread in [*threads, cycler]:
                thread.join(30)
            load_seconds = time.monotonic() - started
            proxy.set_pass()

            def flush_all() -> None:
                for handler in handlers:
                    handler.flush()
                if sink is not None:
                    sink.flush()

            drained_at = time.monotonic()
            drained = drain(handlers[0].stats, flush_all, args.drain)
            drain_seconds = time.monotonic() - drained_at
            stats = handlers[0].stats()
            proxy_connections = dict(proxy.connections)
            lost_answers = proxy.lost_answers
        stored = stored_ids(bugsink)
    finally:
        for handler in handlers:
            handler.close()
        bugsink.stop()

    logged = [event_id for load in loads for event_id in load.event_ids]
    logged_set = set(logged)
    stored_set = set(stored)
    delivered = len(logged_set & stored_set)
    # spool_evicted: the oldest files dropped to keep the spool within its bounds, counted.
    dropped = {
        k: v for k, v in sorted(stats.items()) if k.startswith("dropped_") or k == "spool_evicted"
    }
    # Below 0: events neither stored nor counted as dropped. Above 0: events counted as dropped
    # that the server stored all the same (an answer lost after the server took the event).
    balance = delivered + sum(dropped.values()) - len(logged_set)
    latencies = [value for load in loads for value in load.latencies]
    raised = sum(load.errors for load in loads)
    rss_end = rss_kib()

    print()
    print(f"soak: {load_seconds:.0f} s of load, drain {drain_seconds:.1f} s (drained: {drained})")
    print(f"  proxy modes visited      {len(visited)} phases: {' '.join(visited)}")
    print(f"  proxy connections        {proxy_connections}, answers lost {lost_answers}")
    print(f"  log calls                {len(latencies)} ({raised} raised into the application)")
    print(f"  breadcrumbs (INFO)       {sum(load.breadcrumbs for load in loads)}")
    print(f"  events logged            {len(logged)} ({len(logged_set)} distinct ids)")
    print(f"  events delivered         {delivered} (stored in Bugsink by id)")
    print(f"  stored twice or more     {len(stored) - len(stored_set)}")
    print(f"  stored but not logged    {len(stored_set - logged_set)}")
    print(f"  spooled                  {stats.get('spooled', 0) if use_spool else 'no spool'}")
    print(f"  sent (envelopes)         {stats.get('sent', 0)}")
    print(f"  dropped by reason        {dropped or 'none'}")
    other = {
        k: v
        for k, v in sorted(stats.items())
        if not k.startswith("dropped_") and k not in ("sent", "spooled", "spool_evicted")
    }
    print(f"  other counts             {other}")
    print(f"  delivered+dropped-logged {balance} (below 0: events lost without a count)")
    print(
        f"  peak RSS                 {peak_rss_kib() / 1024:.1f} MiB "
        f"(RSS start {(rss_start or 0) / 1024:.1f} MiB, end {(rss_end or 0) / 1024:.1f} MiB)"
    )
    if latencies:
        micro = [value * 1e6 for value in latencies]
        print(
            "  log-call latency (us)    "
            f"p50 {percentile(micro, 0.50):.0f}  p90 {percentile(micro, 0.90):.0f}  "
            f"p99 {percentile(micro, 0.99):.0f}  p99.9 {percentile(micro, 0.999):.0f}  "
            f"max {max(micro):.0f}  mean {statistics.fmean(micro):.0f}"
        )
        for load in loads:
            mine = [value * 1e6 for value in load.latencies]
            if mine:
                print(
                    f"    {load.name:<22} p50 {percentile(mine, 0.50):.0f}  "
                    f"p99 {percentile(mine, 0.99):.0f}  max {max(mine):.0f}"
                )
    shutil.rmtree(work, ignore_errors=True)
    return 1 if balance < 0 or raised else 0


if __name__ == "__main__":
    sys.exit(main())
