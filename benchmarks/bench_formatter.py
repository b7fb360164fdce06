"""How fast JsonFormatter is next to python-json-logger and ecs-logging.

Run from the repository root (needs the ``bench`` extra: ecs-logging, orjson)::

    .venv/bin/python benchmarks/bench_formatter.py [--rounds 15] [--number 20000]

Every formatter formats the same records in the same run; rounds alternate
between formatters and the median round of each counts, so a busy machine
slows all of them alike (``--best``: the fastest round counts). Prints
microseconds per record and the ratios the issue asks for. python-json-logger
is measured twice: as configured by default (its line then has only the
message and the extras) and with a format naming the fields JsonFormatter
writes (time, level, logger, origin, process, thread), which is the
like-for-like comparison.

Three streams of plain records with 5 extras, because JsonFormatter remembers
what it made of values it has seen (scrubbed strings, number texts, the
encoded message) and python-json-logger does not:

- *the same record* formatted again and again: every table answers;
- *a service's stream*: a new record each time from one call site, whose
  message argument and ``order_id`` are new on every record and whose other
  extras come from small sets (50 customers, 200 amounts, 4 regions, 3
  attempts), as a service's values do;
- *every record new* (``--varied``): message and every value never seen
  before, the worst case for those tables.

JsonFormatter scrubs secrets by default; it is also measured with
``scrub=False`` and the with/without ratio printed (``--no-scrub`` leaves that
comparison out).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import timeit
from typing import Callable

import ecs_logging
from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter
from pythonjsonlogger.orjson import OrjsonFormatter as PjlOrjsonFormatter

from sentry_logging_std import JsonFormatter

EXTRA = {"order_id": 123, "customer": "acme", "amount": 12.5, "region": "eu", "attempt": 2}
SAME_FIELDS = (
    "%(asctime)s %(levelname)s %(name)s %(message)s %(filename)s %(lineno)d "
    "%(funcName)s %(process)d %(threadName)s"
)


def plain_record() -> logging.LogRecord:
    record = logging.LogRecord(
        "app.orders",
        logging.INFO,
        "/srv/app/orders.py",
        42,
        "order %s placed",
        ("A1",),
        None,
        func="place_order",
    )
    record.__dict__.update(EXTRA)
    return record


def _inner() -> None:
    raise KeyError("missing")


def _outer() -> None:
    try:
        _inner()
    except KeyError as exc:
        raise ValueError("order could not be placed") from exc


def exception_record() -> logging.LogRecord:
    """A new record with a new two-level chained exception: nothing rendered yet."""
    try:
        _outer()
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "app.orders",
        logging.ERROR,
        "/srv/app/orders.py",
        42,
        "failed",
        (),
        exc_info,
        func="place_order",
    )
    record.__dict__.update(EXTRA)
    return record


OURS = "sentry_logging_std.JsonFormatter"
UNSCRUBBED = "sentry_logging_std.JsonFormatter (scrub=False)"


def formatters(no_scrub: bool = True) -> dict[str, logging.Formatter]:
    made: dict[str, logging.Formatter] = {OURS: JsonFormatter(service_name="orders")}
    if no_scrub:
        made[UNSCRUBBED] = JsonFormatter(service_name="orders", scrub=False)
    return {
        **made,
        "pjl JsonFormatter (default)": PjlJsonFormatter(),
        "pjl JsonFormatter (same fields)": PjlJsonFormatter(SAME_FIELDS),
        "pjl OrjsonFormatter (default)": PjlOrjsonFormatter(),
        "pjl OrjsonFormatter (same fields)": PjlOrjsonFormatter(SAME_FIELDS),
        "ecs-logging StdlibFormatter": ecs_logging.StdlibFormatter(),
    }


def time_plain(formatter: logging.Formatter, number: int) -> float:
    record = plain_record()
    return timeit.timeit(lambda: formatter.format(record), number=number) / number


def varied_records(number: int) -> list[logging.LogRecord]:
    """Records whose message and values differ from every other's: no table can answer."""
    records = []
    for index in range(number):
        record = plain_record()
        record.args = (f"A{index}",)
        record.__dict__.update(
            order_id=100_000 + index, customer=f"customer {index}", amount=index / 7
        )
        records.append(record)
    return records


def stream_records(number: int) -> list[logging.LogRecord]:
    """A service's records: new message argument and order id, other extras from small sets."""
    records = []
    for index in range(number):
        record = plain_record()
        record.args = (f"A{index}",)
        record.__dict__.update(
            order_id=100_000 + index,
            customer=f"customer {index % 50}",
            amount=(index % 200) * 0.25 + 0.99,
            region=("eu", "us", "ap", "sa")[index % 4],
            attempt=index % 3 + 1,
        )
        records.append(record)
    return records


Run = Callable[[logging.Formatter, int], float]


def timer(make_records: Callable[[int], list[logging.LogRecord]]) -> Run:
    """Seconds per record to format *number* records made beforehand, each once."""

    def run(formatter: logging.Formatter, number: int) -> float:
        take = make_records(number).pop
        return timeit.timeit(lambda: formatter.format(take()), number=number) / number

    return run


time_stream = timer(stream_records)
time_varied = timer(varied_records)
time_exception = timer(lambda number: [exception_record() for _ in range(number)])


def measure(
    run: Run,
    number: int,
    rounds: int,
    no_scrub: bool,
    best: bool = False,
) -> dict[str, float]:
    found: dict[str, list[float]] = {}
    made = formatters(no_scrub)
    for _ in range(rounds):
        for name, formatter in made.items():
            found.setdefault(name, []).append(run(formatter, number))
    pick = min if best else statistics.median
    return {name: pick(times) for name, times in found.items()}


def report(title: str, times: dict[str, float], targets: dict[str, float]) -> None:
    ours = times[OURS]
    print(f"\n{title}")
    for name, seconds in times.items():
        line = f"  {name:46} {seconds * 1e6:8.2f} us"
        if name == UNSCRUBBED:
            line += f"   scrubbing: with/without = {ours / seconds:4.2f}"
        elif name != OURS:
            ratio = seconds / ours
            target = targets.get(name)
            verdict = "" if target is None else f"  (target >= {target}x: "
            if target is not None:
                verdict += "met)" if ratio >= target else "NOT met)"
            line += f"   JsonFormatter is {ratio:5.2f}x faster{verdict}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument(
        "--no-scrub",
        action="store_false",
        dest="compare_scrub",
        help="leave out the comparison with scrub=False",
    )
    parser.add_argument(
        "--varied", action="store_true", help="also format records never seen before"
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="the fastest round of each formatter counts, not the median (a shared machine)",
    )
    args = parser.parse_args()
    which = "fastest" if args.best else "median"
    print(f"Python {sys.version.split()[0]}; {which} of {args.rounds} alternating rounds")
    plain_targets = {
        "pjl JsonFormatter (default)": 3.0,
        "pjl JsonFormatter (same fields)": 3.0,
        "pjl OrjsonFormatter (default)": 1.5,
        "pjl OrjsonFormatter (same fields)": 1.5,
        "ecs-logging StdlibFormatter": 15.0,
    }
    runs: list[tuple[str, Run, int, dict[str, float]]] = [
        ("plain record, 5 extras: the same record again", time_plain, args.number, plain_targets),
        (
            "plain record, 5 extras: a service's stream, a new record each time",
            time_stream,
            args.number // 4,
            plain_targets,
        ),
    ]
    if args.varied:
        runs.append(
            (
                "plain record, 5 extras: every record and value new",
                time_varied,
                args.number // 4,
                plain_targets,
            )
        )
    runs.append(
        (
            "two-level chained exception, first format of each record",
            time_exception,
            args.number // 10,
            {"pjl JsonFormatter (default)": 3.0, "pjl JsonFormatter (same fields)": 3.0},
        )
    )
    for title, run, number, targets in runs:
        number = max(number, 100)  # noqa: PLW2901 - at least 100 records per round
        times = measure(run, number, args.rounds, args.compare_scrub, args.best)
        report(f"{title} ({number} per round)", times, targets)


if __name__ == "__main__":
    main()
