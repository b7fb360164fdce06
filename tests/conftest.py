"""Shared fixtures: a real sentry-sdk client whose transport keeps envelopes in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from sentry_logging_std import SentryHandler
from sentry_logging_std._client import INITIALIZER
from sentry_logging_std._worker import WORKER

#: A well-formed DSN for a server that is never contacted: tests that use it
#: also pass a capturing transport.
TEST_DSN = "http://publickey@127.0.0.1:9/42"


class CapturingTransport(Transport):
    """Keeps every envelope sentry-sdk hands over, already serialised."""

    instances = 0

    def __init__(self, options: Any = None) -> None:
        super().__init__({"dsn": TEST_DSN})
        type(self).instances += 1
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        # Round-trip through the wire format, so tests see what a server sees.
        self.envelopes.append(Envelope.deserialize(envelope.serialize()))

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events received once every capture job queued so far has run."""
        assert WORKER.flush(10), "capture jobs still pending after 10 s"
        found: list[dict[str, Any]] = []
        for envelope in self.envelopes:
            event = envelope.get_event()
            if event is not None:
                found.append(dict(event))
        return found


def shown_message(event: Mapping[str, Any]) -> str:
    """The message Sentry shows for *event*: ``logentry.formatted``, else ``logentry.message``
    (or the event's own ``message``, for an event not made from a log record).

    A message without arguments is sent once, as ``message`` (Relay moves it to
    ``formatted``; Bugsink shows either).
    """
    logentry = event.get("logentry") or {}
    return str(logentry.get("formatted", logentry.get("message", event.get("message"))))


def reset_sentry() -> None:
    """Put sentry-sdk and the initialiser back to "never started"."""
    # Capture jobs still queued by the last test belong to its client: let
    # them run against it, not against the next test's.
    WORKER.flush(10)
    WORKER.clear_counts()  # per process: one test's drops are not the next one's
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=0)
    sentry_sdk.Scope.get_global_scope().set_client(None)
    for scope in (
        sentry_sdk.Scope.get_global_scope(),
        sentry_sdk.Scope.get_isolation_scope(),
        sentry_sdk.Scope.get_current_scope(),
    ):
        scope.clear()
    INITIALIZER.reset()
    forget_loguru_sinks()


def forget_loguru_sinks() -> None:
    """Remove every loguru sink, sentry-sdk's included.

    Older sentry-sdk releases (2.0) remember the ids of the sinks their
    LoguruIntegration added and remove them when the next one is built,
    failing if they are gone: forget those ids too (test isolation only).
    """
    from loguru import logger
    from sentry_sdk.integrations import loguru as sdk_loguru

    logger.remove()
    if hasattr(sdk_loguru, "_ADDED_HANDLERS"):
        setattr(sdk_loguru, "_ADDED_HANDLERS", (None, None))  # noqa: B010


@pytest.fixture(autouse=True)
def _isolate_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no client, no SENTRY_* variables and a clean root logger."""
    for name in ("SENTRY_DSN", "SENTRY_ENVIRONMENT", "SENTRY_RELEASE"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    reset_sentry()
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    reset_sentry()


MakeHandler = Callable[..., tuple[SentryHandler, CapturingTransport]]


@pytest.fixture
def transport() -> CapturingTransport:
    return CapturingTransport()


@pytest.fixture
def make_handler(transport: CapturingTransport) -> Iterator[MakeHandler]:
    """Build a SentryHandler that sends to a capturing transport, on a fresh logger."""
    made: list[tuple[logging.Logger, SentryHandler]] = []

    def make(logger: str = "tests.app", **options: Any) -> tuple[SentryHandler, CapturingTransport]:
        options.setdefault("dsn", TEST_DSN)
        options.setdefault("transport", transport)
        handler = SentryHandler(**options)
        target = logging.getLogger(logger)
        target.setLevel(logging.DEBUG)
        target.propagate = False
        target.addHandler(handler)
        made.append((target, handler))
        return handler, transport

    yield make
    for target, handler in made:
        target.removeHandler(handler)
        target.propagate = True
        target.setLevel(logging.NOTSET)
