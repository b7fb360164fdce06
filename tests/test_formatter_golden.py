"""Golden lines: fixed records give exactly these lines (set SLS_UPDATE_GOLDEN=1 to rewrite)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from sentry_logging_std import JsonFormatter

GOLDEN = Path(__file__).parent / "golden" / "formatter.jsonl"
HERE = str(Path(__file__).resolve())


def _record(msg: str, args: Any = (), level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {
            "name": "orders.api",
            "levelno": level,
            "levelname": logging.getLevelName(level),
            "pathname": "/srv/app/orders/api.py",
            "filename": "api.py",
            "module": "api",
            "lineno": 88,
            "funcName": "place_order",
            "created": 1717243200.123456,
            "msecs": 123.0,
            "process": 4242,
            "processName": "MainProcess",
            "thread": 1,
            "threadName": "MainThread",
            "msg": msg,
            "args": args,
        }
    )
    record.__dict__.update(extra)
    return record


def _fail() -> None:
    try:
        inventory: dict[str, int] = {}
        inventory["sku"] += 1
    except KeyError as exc:
        raise RuntimeError("inventory lookup failed") from exc


def _exception_record() -> logging.LogRecord:
    try:
        _fail()
    except RuntimeError:
        record = _record("could not place order %s", ("A-17",), logging.ERROR, order_id=17)
        record.exc_info = sys.exc_info()
    return record


CASES = {
    "plain": lambda: _record("order %s placed", ("A-17",)),
    "declared and labels": lambda: _record(
        "order placed",
        order_id="17",
        amount=decimal.Decimal("12.50"),
        customer={"id": 5, "tier": "gold"},
        placed_at=dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.timezone.utc),
        region="eu-west",
        attempt=2,
        ratio=float("nan"),
        tags=["a", "b"],
    ),
    "unconvertible declared": lambda: _record("bad values", order_id="A-17", amount="lots"),
    "reserved extras": lambda: _record(
        "reserved", error="not an error", log={"level": "fake"}, service="other", trace=1
    ),
    "exception": _exception_record,
}


def _formatter() -> JsonFormatter:
    return JsonFormatter(
        service_name="orders",
        service_environment="production",
        service_version="2.4.1",
        hostname="orders-7f9c",
        fields={"order_id": "long", "amount": "double", "placed_at": "date"},
    )


def _lines() -> list[str]:
    formatter = _formatter()
    lines = []
    for name, make in CASES.items():
        document = json.loads(formatter.format(make()))
        stack = document.get("error", {}).get("stack_trace")
        if stack:  # paths and line numbers of this file vary by checkout and edit
            stack = stack.replace(HERE, "<tests>/test_formatter_golden.py")
            document["error"]["stack_trace"] = re.sub(r", line \d+,", ", line N,", stack)
        lines.append(json.dumps({"case": name, "line": document}, sort_keys=False))
    return lines


def test_golden_lines() -> None:
    """Fixed records give exactly the recorded lines, field order included."""
    lines = _lines()
    if os.environ.get("SLS_UPDATE_GOLDEN"):
        GOLDEN.write_text("\n".join(lines) + "\n")
    if not GOLDEN.exists():  # pragma: no cover - first run
        pytest.fail(f"{GOLDEN} is missing: run with SLS_UPDATE_GOLDEN=1")
    assert lines == GOLDEN.read_text().splitlines()
