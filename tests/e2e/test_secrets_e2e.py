"""The secret corpus into a real Bugsink: nothing planted is stored, the marker is where it was."""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from sentry_logging_std import SentryHandler, SentrySink

from .. import secret_corpus as corpus
from .bugsink import Bugsink

MARKER = corpus.MARKER


def dsn_key(bugsink: Bugsink) -> str:
    key = urllib.parse.urlsplit(bugsink.dsn).username
    assert key
    return key


def stored(bugsink: Bugsink, event_id: str) -> tuple[dict[str, Any], str]:
    """The event's payload as stored, and everything Bugsink says about it and its issues."""
    data = bugsink.event(event_id)
    record = bugsink.lookup(event_id)
    everything = json.dumps([record, bugsink.issues()], default=str)
    return data, everything


def check_event(data: dict[str, Any]) -> None:
    """The marker where each secret was, as Bugsink stored the event."""
    assert MARKER in data["logentry"]["formatted"]
    extra = data["contexts"]["extra"]
    assert extra["password"] == MARKER
    assert extra["order"]["payment"]["gateway"]["attempts"] == [{"n": 1, "secret": MARKER}]
    assert extra["client"]["settings"] == [{"api_key": MARKER}]
    assert extra["harmless"] == "order 7 for alice"
    for name, value in {**corpus.scope_markers(data), **corpus.exception_markers(data)}.items():
        assert corpus.has_marker(value), (name, value)
    assert data["user"]["email"] == MARKER
    (crumb,) = [c for c in corpus.crumbs(data) if c.get("type") == "log"]
    assert crumb["data"]["access_token"] == MARKER


@pytest.fixture
def corpus_handler(bugsink: Bugsink) -> Iterator[tuple[logging.Logger, SentryHandler]]:
    handler = SentryHandler(dsn=bugsink.dsn, environment="e2e-secrets")
    log = logging.getLogger(corpus.LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    yield log, handler
    log.removeHandler(handler)
    handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


def test_handler_events_stored_without_secrets(
    bugsink: Bugsink, corpus_handler: tuple[logging.Logger, SentryHandler]
) -> None:
    """SentryHandler -> Bugsink: the stored event, its issue and the DSN-key event are clean."""
    log, handler = corpus_handler
    key = dsn_key(bugsink)
    corpus.log_everything(log)
    handler.flush()
    error_id = handler.last_event_id
    corpus.dsn_key_record(log, key)
    handler.flush()
    key_id = handler.last_event_id
    assert error_id is not None
    assert key_id is not None
    assert key_id != error_id
    data, everything = stored(bugsink, error_id)
    key_data, key_everything = stored(bugsink, key_id)
    assert corpus.leaks(everything + key_everything, dsn_key=key) == []
    check_event(data)
    assert key_data["logentry"]["formatted"] == f"misconfigured client, key {MARKER} in use"


def test_loguru_events_stored_without_secrets(bugsink: Bugsink) -> None:
    """SentrySink on real loguru -> Bugsink: the same corpus, stored clean."""
    key = dsn_key(bugsink)
    logger.remove()
    sink = SentrySink(dsn=bugsink.dsn, environment="e2e-secrets")
    logger.add(sink, level="INFO")
    try:
        corpus.loguru_everything()
        sink.flush()
        error_id = sink.last_event_id
        logger.error("misconfigured client, key {} in use", key)
        sink.flush()
        key_id = sink.last_event_id
    finally:
        logger.remove()
    assert error_id is not None
    assert key_id is not None
    data, everything = stored(bugsink, error_id)
    key_data, key_everything = stored(bugsink, key_id)
    assert corpus.leaks(everything + key_everything, dsn_key=key) == []
    check_event(data)
    assert key_data["logentry"]["formatted"] == f"misconfigured client, key {MARKER} in use"
