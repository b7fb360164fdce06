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
