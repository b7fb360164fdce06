"""Importing the package is cheap: sentry-sdk and importlib.metadata wait for what needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sentry_logging_std

ROOT = Path(__file__).resolve().parent.parent


def fresh(source: str) -> dict[str, object]:
    """Run *source* in a new interpreter; it prints one JSON object."""
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, object] = json.loads(run.stdout)
    return result


def test_the_import_loads_neither_sentry_sdk_nor_importlib_metadata() -> None:
    found = fresh(
        """
        import json, sys
        import sentry_logging_std
        print(json.dumps({name: name in sys.modules
                          for name in ("sentry_sdk", "importlib.metadata", "loguru")}))
        """
    )
    assert found == {"sentry_sdk": False, "importlib.metadata": False, "loguru": False}


def test_each_public_name_loads_on_first_use() -> None:
    found = fresh(
        """
        import json, logging.config, sys
        import sentry_logging_std
        logging.config.dictConfig({
            "version": 1,
            "handlers": {"sentry": {"class": "sentry_logging_std.SentryHandler"}},
        })
        print(json.dumps({
            "after_dictconfig": "sentry_sdk" in sys.modules,
            "version": sentry_logging_std.__version__,
            "names": sorted(set(sentry_logging_std.__all__) - set(dir(sentry_logging_std))),
        }))
        """
    )
    assert found["after_dictconfig"] is True
    assert found["version"] == sentry_logging_std.__version__ != ""
    assert found["names"] == []


def test_every_name_in_all_resolves_and_others_do_not() -> None:
    for name in sentry_logging_std.__all__:
        assert getattr(sentry_logging_std, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        sentry_logging_std.no_such_name  # noqa: B018


def test_a_program_that_only_writes_json_lines_never_imports_sentry_sdk() -> None:
    """JsonFormatter from dictConfig and LoguruJsonFormat, an error with its exception
    logged through each: the lines are whole, and sentry-sdk was never loaded."""
    found = fresh(
        """
        import io, json, logging.config, sys
        from loguru import logger
        import sentry_logging_std
        stream = io.StringIO()
        logging.config.dictConfig({
            "version": 1,
            "formatters": {"json": {"()": "sentry_logging_std.JsonFormatter"}},
            "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "json",
                                 "stream": stream}},
            "root": {"handlers": ["out"], "level": "INFO"},
        })
        log = logging.getLogger("app")
        try:
            raise ValueError("token=abc123 refused")
        except ValueError:
            log.exception("payment failed for %s", "card")
        log.info("done", extra={"password": "hunter2"})
        lines = []
        logger.remove()
        logger.add(lines.append, format=sentry_logging_std.LoguruJsonFormat())
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("division failed")
        records = [json.loads(line) for line in stream.getvalue().splitlines()]
        records.append(json.loads(lines[0]))
        print(json.dumps({"sentry_sdk": "sentry_sdk" in sys.modules, "records": records}))
        """
    )
    assert found["sentry_sdk"] is False
    records = found["records"]
    assert isinstance(records, list)
    first, second, third = records
    assert first["message"] == "payment failed for card"
    assert "ValueError" in first["error"]["stack_trace"]
    assert "abc123" not in json.dumps(first)  # scrubbed with the default policy
    assert "hunter2" not in json.dumps(second)
    assert "ZeroDivisionError" in third["error"]["stack_trace"]
