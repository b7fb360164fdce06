"""How fast JsonRenderer is next to JsonFormatter and structlog's own JSONRenderer with orjson.

Run from the repository root (needs structlog and orjson)::

    .venv/bin/python benchmarks/bench_structlog.py [--rounds 15] [--number 20000]

Every renderer renders the same data in the same run; rounds alternate
between them and the median round of each counts (``--best``: the fastest),
so a busy machine slows all of them alike. Printed: microseconds per line,
the ratios, and whether each target is met:

- JsonRenderer within 1.1x of JsonFormatter: the event dict holds what the
  LogRecord holds (message, level, logger, time, the same 5 extras; the
  exception case the same new chained exception), and JsonRenderer also
  finds the process id and thread name, which a LogRecord carries already;
- JsonRenderer faster than ``structlog.processors.JSONRenderer(serializer=
  orjson.dumps)`` (its bytes decoded, so both return text) on the same event
  dicts; with an exception, structlog's renderer is preceded by
  ``format_exc_info``, which it needs to write the traceback at all.

The event dicts carry ``timestamp`` as ``TimeStamper(fmt="iso", utc=True)``
writes it (``--float-timestamps``: as ``TimeStamper()`` writes it, a float).
Three cases: the same data again and again; a service's stream (a new
record or dict each time, message argument and ``order_id`` new, the other
values from small sets); a new two-level chained exception each time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import time
import timeit
from collections.abc import MutableMapping
from typing import Any, Callable

import orjson
import structlog
from bench_common import fail

from sentry_logging_std import JsonFormatter, JsonRenderer

EXTRA = {"order_id": 123, "customer": "acme", "amount": 12.5, "region": "eu", "attempt": 2}

OURS = "sentry_logging_std.JsonRenderer"
FORMATTER = "sentry_logging_std.JsonFormatter"
STRUCTLOG = "structlog JSONRenderer(orjson)"

#: Within this factor of JsonFormatter; faster than structlog's (ratio below 1).
TARGETS = {FORMATTER: 1.1, STRUCTLOG: 1.0}


def _stamp(created: float, as_float: bool) -> Any:
    if as_float:
        return created
    moment = dt.datetime.fromtimestamp(created, dt.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _exc_info() -> Any:
    try:
        fail(7)
    except RuntimeError:
        return sys.exc_info()
    raise AssertionError("fail() did not raise")  # pragma: no cover


class Case:
    """The same data as LogRecords and as event dicts, made before timing."""

    def __init__(self, as_float: bool) -> None:
        self.as_float = as_float

    def record(self, message_arg: str, extra: dict[str, Any], exc_info: Any = None) -> Any:
        record = logging.LogRecord(
            "app.orders",
            logging.ERROR if exc_info else logging.INFO,
            "/srv/app/orders.py",
            42,
            "order %s placed",
            (message_arg,),
            exc_info,
            func="place_order",
        )
        record.__dict__.update(extra)
        return record

    def event(self, record: Any) -> dict[str, Any]:
        """The event dict a structlog chain (add_log_level, TimeStamper, add_logger_name) makes."""
        event = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "timestamp": _stamp(record.created, self.as_float),
            "logger": record.name,
            **{k: v for k, v in record.__dict__.items() if k in EXTRA},
        }
        if record.exc_info:
            event["exc_info"] = record.exc_info
        return event

    def events(self, records: list[Any]) -> list[dict[str, Any]]:
        """The records' event dicts: one dict for one record given again, as the
        formatter gets one record again; a new one for each exception, because
        structlog's format_exc_info changes the dict it is given."""
        made: dict[int, dict[str, Any]] = {}
        events = []
        for record in records:
            event = made.get(id(record))
            if event is None or record.exc_info:
                event = made[id(record)] = self.event(record)
            events.append(event)
        return events

    def same(self, number: int) -> list[Any]:
        return [self.record("A1", EXTRA)] * number

    def stream(self, number: int) -> list[Any]:
        return [
            self.record(
                f"A{index}",
                {
                    "order_id": 100_000 + index,
                    "customer": f"customer {index % 50}",
                    "amount": (index % 200) * 0.25 + 0.99,
                    "region": ("eu", "us", "ap", "sa")[index % 4],
                    "attempt": index % 3 + 1,
                },
            )
            for index in range(number)
        ]

    def exceptions(self, number: int) -> list[Any]:
        return [self.record("A1", EXTRA, _exc_info()) for _ in range(number)]


Render = Callable[[Any], str]


def renderers() -> dict[str, tuple[bool, Render]]:
    """name -> (takes event dicts, render one)."""
    formatter = JsonFormatter(service_name="orders")
    ours = JsonRenderer(service_name="orders")
    theirs = structlog.processors.JSONRenderer(serializer=orjson.dumps)
    format_exc_info = structlog.processors.format_exc_info

    def structlog_line(event: MutableMapping[str, Any]) -> str:
        if "exc_info" in event:
            event = format_exc_info(None, "error", event)
        line = theirs(None, "info", event)
        return line.decode() if isinstance(line, bytes) else line

    return {
        OURS: (True, lambda event: ours(None, "info", event)),
        FORMATTER: (False, formatter.format),
        STRUCTLOG: (True, structlog_line),
    }


def measure(
    case: Case, make: Callable[[int], list[Any]], number: int, rounds: int, best: bool
) -> dict[str, float]:
    found: dict[str, list[float]] = {}
    made = renderers()
    for _ in range(rounds):
        records = make(number)
        for name, (takes_events, render) in made.items():
            items = case.events(records) if takes_events else list(records)
            take = items.pop
            seconds = timeit.timeit(lambda: render(take()), number=number)  # noqa: B023
            found.setdefault(name, []).append(seconds / number)
    pick = min if best else statistics.median
    return {name: pick(times) for name, times in found.items()}


def report(title: str, times: dict[str, float]) -> bool:
    ours = times[OURS]
    print(f"\n{title}")
    met = True
    for name, seconds in times.items():
        line = f"  {name:34} {seconds * 1e6:8.2f} us"
        if name != OURS:
            ratio = ours / seconds
            target = TARGETS[name]
            ok = ratio <= target if name == FORMATTER else ratio < target
            met = met and ok
            wanted = f"<= {target}" if name == FORMATTER else f"< {target}"
            line += f"   JsonRenderer / this = {ratio:5.2f} (target {wanted}: "
            line += "met)" if ok else "NOT met)"
        print(line)
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--float-timestamps", action="store_true")
    parser.add_argument(
        "--best",
        action="store_true",
        help="the fastest round of each renderer counts, not the median (a shared machine)",
    )
    args = parser.parse_args()
    which = "fastest" if args.best else "median"
    stamps = "float" if args.float_timestamps else "ISO 8601 text"
    print(
        f"Python {sys.version.split()[0]}, structlog {structlog.__version__}; {which} of "
        f"{args.rounds} alternating rounds; event dict timestamps as {stamps}"
    )
    case = Case(args.float_timestamps)
    runs: list[tuple[str, Callable[[int], list[Any]], int]] = [
        ("5 extras: the same data again", case.same, args.number),
        ("5 extras: a service's stream, new data each time", case.stream, args.number // 4),
        ("two-level chained exception, a new one each time", case.exceptions, args.number // 10),
    ]
    all_met = True
    started = time.perf_counter()
    for title, make, number in runs:
        number = max(number, 100)  # noqa: PLW2901 - at least 100 per round
        times = measure(case, make, number, args.rounds, args.best)
        all_met = report(f"{title} ({number} per round)", times) and all_met
    print(
        f"\nevery target met: {'yes' if all_met else 'NO'} ({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
