"""Fixtures of the end-to-end tests: a real Bugsink server on 127.0.0.1 (see ``bugsink.py``)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from .bugsink import Bugsink, start_bugsink

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e with ``e2e`` (this hook sees the whole session's items)."""
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _uncaptured(config: pytest.Config) -> contextlib.AbstractContextManager[object]:
    """Let the (slow, one-off) venv build show its progress on the terminal."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        return contextlib.nullcontext()
    return cast("contextlib.AbstractContextManager[object]", capman.global_and_fixture_disabled())


@pytest.fixture(scope="session")
def bugsink(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bugsink]:
    """One Bugsink server for the whole session, with one project; stopped at the end.

    Its state directory (databases, config, ``bugsink.log``) is removed afterwards unless a test
    failed.
    """
    state_dir = tmp_path_factory.mktemp("bugsink")
    with _uncaptured(request.config):
        server = start_bugsink(state_dir)
    try:
        yield server
    finally:
        server.stop()
    if request.session.testsfailed == 0:
        shutil.rmtree(state_dir, ignore_errors=True)
