"""What scrubbing costs: through SentryHandler, and the event scrubbing function on its own.

Run: ``python benchmarks/bench_scrub.py`` (``--quick`` for a short run).

1. ``logger.error`` / ``logger.exception`` (with nested extras, secrets among
   them) through SentryHandler with the default policy and with every default
   turned off and no keys added (the least scrubbing the options allow: the
   event is still walked), same records, same process, alternating rounds.
   ``capture="background"`` times the calling thread (the worker scrubs);
   ``capture="sync"`` times the whole path on the calling thread (build, scrub,
   serialise, hand to a transport that drops it): the worker's cost per event.
2. The event scrubbing function alone on one realistic event (100 breadcrumbs
   with data, user, contexts, tags, nested extras, a two-exception chain with
   frame variables): this library's ``ScrubPolicy.event`` vs sentry-sdk's
   ``EventScrubber`` with its defaults (``recursive=False`` and ``True``), on
   fresh copies of the same event (not timed), interleaved call by call.

3. Source context on an exception event with 20 frames (each with its five
   lines before and after, and its variables), as sentry-sdk hands it to
   before_send: ``ScrubPolicy.event`` with the defaults, without source
   lines (``scrub_defaults_off=["source_context"]``) and without hiding
   repeated secrets, with sentry-sdk's ``EventScrubber`` as the anchor; once
   with no secret in the event, once with a ``password=`` in the message (the
   pass that hides the removed value everywhere runs).
4. The JSON line with scrubbing on and off (``JsonFormatter(scrub=False)``)
   on bench_formatter's streams: a service's plain records, and records with
   a new two-level exception (source lines in ``error.stack_trace``).

5. What remembering secrets across records would cost (the design does not:
   see docs/architecture.md): every line of the service stream searched for
   K remembered secrets (16 random characters each), next to the line alone.

Printed: median microseconds and ratios (defaults / off; ours / sentry-sdk).
"""

from __future__ import annotations

import argparse
import copy
import functools
import logging
import random
import statistics
import string
import time
from typing import Any, Callable

import sentry_sdk
from bench_common import DSN, DropTransport
from bench_formatter import exception_record, stream_records
from sentry_sdk.scrubber import EventScrubber

from sentry_logging_std import JsonFormatter, SentryHandler
from sentry_logging_std._client import INITIALIZER
from sentry_logging_std._scrub import DEFAULT_KEYS, DEFAULT_PATTERNS, ScrubPolicy
from sentry_logging_std._worker import WORKER

ALL_DEFAULTS = sorted(DEFAULT_KEYS) + list(DEFAULT_PATTERNS)


def extras(n: int) -> dict[str, Any]:
    return {
        "order_id": n,
        "password": "hunter2-not-real",
        "customer": {"name": "alice", "tier": "gold", "address": {"city": "Lyon", "zip": "69001"}},
        "payment": {"gateway": {"token": "tok_123456", "attempts": [{"n": 1, "ok": False}]}},
        "upstream": "https://svc:pw-123@pay.example.org/v1",
        "note": "retry scheduled in 30 s",
    }


def charge(order_id: int) -> None:
    password = "local-secret-123"
    settings = {"service": "billing", "token": "tok_local_456", "retries": 3}
    try:
        raise KeyError(order_id)
    except KeyError as exc:
        if password and settings:
            raise RuntimeError(f"order {order_id} failed: api_key=ak_789") from exc


def op_error(log: logging.Logger, n: int) -> None:
    log.error("order %s failed, Authorization: Bearer abc123def456", n, extra=extras(n))


def op_exception(log: logging.Logger, n: int) -> None:
    try:
        charge(n)
    except RuntimeError:
        log.exception("order %s failed", n, extra=extras(n))


def reset() -> None:
    WORKER.flush(60)
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
        handler.close()


def setup(**options: Any) -> logging.Logger:
    reset()
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(SentryHandler(dsn=DSN, transport=DropTransport(), flood_limit=0, **options))
    for n in range(120):  # 100 breadcrumbs in scope, as in a long-running request
        log.info("step %d", n, extra={"step": n, "session": "s-123456"})
    WORKER.flush(30)
    return log


def measure(
    options: dict[str, Any], op: Callable[[logging.Logger, int], None], calls: int
) -> float:
    """Median microseconds per call on the calling thread."""
    log = setup(**options)
    clock = time.perf_counter_ns
    latencies = []
    for n in range(calls):
        started = clock()
        op(log, n)
        latencies.append((clock() - started) / 1000)
    WORKER.flush(60)
    return statistics.median(latencies)


def handler_comparison(calls: int, rounds: int) -> None:
    print("SentryHandler, median microseconds per call (100 breadcrumbs in scope)")
    print(f"{'':<34} {'defaults':>9} {'all off':>9}   ratio")
    for capture in ("background", "sync"):
        for name, op in (("logger.error", op_error), ("logger.exception", op_exception)):
            on: list[float] = []
            off: list[float] = []
            for _ in range(rounds):
                on.append(measure({"capture": capture}, op, calls))
                off.append(
                    measure({"capture": capture, "scrub_defaults_off": ALL_DEFAULTS}, op, calls)
                )
            a, b = statistics.median(on), statistics.median(off)
            label = f"{name} capture={capture}"
            print(f"{label:<34} {a:9.1f} {b:9.1f}   {a / b:6.3f}")
    reset()


def caught_event(make: Callable[[], None]) -> dict[str, Any]:
    """The one event *make* captures, as sentry-sdk hands it to before_send, unscrubbed."""
    reset()
    caught: list[dict[str, Any]] = []

    def keep(event: Any, hint: Any) -> None:
        caught.append(copy.deepcopy(event))

    sentry_sdk.init(
        dsn=DSN,
        transport=DropTransport(),
        before_send=keep,
        event_scrubber=EventScrubber(denylist=[], pii_denylist=[]),
    )
    make()
    reset()
    (event,) = caught
    return event


def realistic_event() -> dict[str, Any]:
    """One event with 100 breadcrumbs, user, contexts, tags, extras and a two-exception chain."""

    def make() -> None:
        for n in range(100):
            sentry_sdk.add_breadcrumb(
                category="app", message=f"step {n}", data={"step": n, "session": "s-123456"}
            )
        sentry_sdk.set_user({"id": "u-7", "email": "alice@example.org"})
        sentry_sdk.set_context("db", {"dsn": "postgres://app:pw@db/prod", "pool": {"size": 5}})
        sentry_sdk.set_tag("order_id", "7")
        for key, value in extras(7).items():
            sentry_sdk.set_extra(key, value)
        try:
            charge(7)
        except RuntimeError as exc:
            sentry_sdk.capture_exception(exc)

    return caught_event(make)


def function_comparison(calls: int, rounds: int) -> None:
    event = realistic_event()
    ours = ScrubPolicy(literals=["publickey"])
    sdk = EventScrubber()
    sdk_recursive = EventScrubber(recursive=True)
    candidates: dict[str, Callable[[Any], Any]] = {
        "ScrubPolicy.event": lambda e: ours.event(e, send_default_pii=False),
        "EventScrubber()": sdk.scrub_event,
        "EventScrubber(recursive=True)": sdk_recursive.scrub_event,
    }
    medians = interleaved(event, candidates, calls, rounds)
    print("\nthe scrubbing function alone on one realistic event, median microseconds")
    for name, value in medians.items():
        print(f"{name:<34} {value:9.1f}")
    mine = medians["ScrubPolicy.event"]
    print(f"{'ratio ours / EventScrubber()':<34} {mine / medians['EventScrubber()']:9.3f}")
    ratio = mine / medians["EventScrubber(recursive=True)"]
    print(f"{'ratio ours / recursive=True':<34} {ratio:9.3f}")


def deep(level: int, order_id: int) -> None:
    """Twenty frames down, then raise: each frame has variables and source lines around it."""
    attempts = [level, order_id]
    note = f"level {level} of order {order_id}"
    if level < 19:
        deep(level + 1, order_id)
    elif attempts and note:
        raise RuntimeError(f"order {order_id} failed at depth {level}")


def deep_event(message: str) -> dict[str, Any]:
    """A 20-frame exception event as sentry-sdk hands it to before_send, unscrubbed."""

    def make() -> None:
        try:
            deep(0, 7)
        except RuntimeError as exc:
            with sentry_sdk.new_scope() as scope:
                scope.set_extra("message", message)
                sentry_sdk.capture_exception(exc)

    event = caught_event(make)
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert len(frames) >= 20, len(frames)
    assert all("context_line" in frame for frame in frames)
    return event


def interleaved(
    event: dict[str, Any], candidates: dict[str, Callable[[Any], Any]], calls: int, rounds: int
) -> dict[str, float]:
    """Median microseconds of each candidate, call by call on fresh copies (copy not timed)."""
    results: dict[str, list[float]] = {name: [] for name in candidates}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for _ in range(calls):
            for name, function in candidates.items():
                fresh = copy.deepcopy(event)
                started = clock()
                function(fresh)
                results[name].append((clock() - started) / 1000)
    return {name: statistics.median(values) for name, values in results.items()}


def source_context_comparison(calls: int, rounds: int) -> None:
    print("\nsource context: an exception event with 20 frames, median microseconds")
    sdk = EventScrubber()
    for title, message in (
        ("no secret in the event", "order 7 failed"),
        ("a password= in it (secrets hidden everywhere)", "retry with password=hunter2-xyz"),
    ):
        event = deep_event(message)
        variants = {
            "defaults": ScrubPolicy(),
            "source_context off": ScrubPolicy(defaults_off=["source_context"]),
            "source_context, secret_repeats off": ScrubPolicy(
                defaults_off=["source_context", "secret_repeats"]
            ),
        }
        candidates: dict[str, Callable[[Any], Any]] = {
            name: functools.partial(policy.event, send_default_pii=False)
            for name, policy in variants.items()
        }
        cold = ScrubPolicy()

        def nothing_remembered(event: Any, policy: ScrubPolicy = cold) -> Any:
            # The tables of strings already answered start empty: a first event.
            policy.forget()
            return policy.event(event, send_default_pii=False)

        candidates["defaults, nothing remembered"] = nothing_remembered
        candidates["EventScrubber()"] = sdk.scrub_event
        medians = interleaved(event, candidates, calls, rounds)
        print(f"  {title}")
        for name, value in medians.items():
            print(f"    {name:<38} {value:9.1f}")
        with_source = medians["defaults"]
        without = medians["source_context off"]
        print(
            f"    {'source lines: defaults / off':<38} {with_source / without:9.3f}"
            f"   (+{(with_source - without) / 20:.2f} us per frame)"
        )
        ratio = with_source / medians["EventScrubber()"]
        print(f"    {'ratio defaults / EventScrubber()':<38} {ratio:9.3f}")


def json_line_comparison(number: int, rounds: int) -> None:
    print("\nJSON lines, median microseconds per record, scrubbing on and off")
    streams: dict[str, Callable[[int], list[logging.LogRecord]]] = {
        "a service's stream (plain records)": stream_records,
        "new two-level exception each record": lambda n: [exception_record() for _ in range(n)],
    }
    for title, make in streams.items():
        count = number if "plain" in title else max(number // 10, 100)
        made = {"on": JsonFormatter(service_name="orders"), "off": JsonFormatter(scrub=False)}
        times: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(rounds):
            for name, formatter in made.items():
                records = make(count)
                started = time.perf_counter()
                for record in records:
                    formatter.format(record)
                times[name].append((time.perf_counter() - started) / count * 1e6)
        on, off = statistics.median(times["on"]), statistics.median(times["off"])
        print(f"  {title:<40} on {on:6.2f}  off {off:6.2f}   on/off {on / off:5.3f}")


def memory_cost(number: int, rounds: int) -> None:
    print("\nremembering secrets across records (not built): cost per JSON line, median us")
    formatter = JsonFormatter(service_name="orders")
    lines = [formatter.format(record) for record in stream_records(number)]
    generator = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    for count in (4, 16, 64):
        remembered = ["".join(generator.choices(alphabet, k=16)) for _ in range(count)]

        def search(line: str, remembered: list[str] = remembered) -> bool:
            return any(secret in line for secret in remembered)

        times: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            for line in lines:
                search(line)
            times.append((time.perf_counter() - started) / number * 1e6)
        base: list[float] = []
        for _ in range(rounds):
            records = stream_records(number)
            started = time.perf_counter()
            for record in records:
                formatter.format(record)
            base.append((time.perf_counter() - started) / number * 1e6)
        extra, line_cost = statistics.median(times), statistics.median(base)
        print(
            f"  {count:3d} remembered: +{extra:5.2f} us on a {line_cost:5.2f} us line"
            f"   (line with the search / without = {(line_cost + extra) / line_cost:5.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args()
    calls, rounds = (150, 3) if args.quick else (400, 5)
    logging.raiseExceptions = True
    handler_comparison(calls, rounds)
    function_comparison(calls * 2, rounds)
    source_context_comparison(calls, rounds)
    json_line_comparison(calls * 25, rounds * 3)
    memory_cost(calls * 25, rounds)


if __name__ == "__main__":
    main()
