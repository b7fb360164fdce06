"""How many planted secrets each library lets out of the process, on the same log calls.

Run from the repository root: ``.venv/bin/python benchmarks/bench_leaks.py``.

The secret corpus of the test suite (``tests/secret_corpus.py``: passwords,
API keys, card numbers, bearer and basic credentials, cookies and tokens in
the message and its arguments, extras, the scope, frame variables, the
exception's text and the source lines of the frames) goes through:

- Sentry events: sentry-sdk's own logging integration with its default
  ``EventScrubber`` (``send_default_pii`` off), and this library's
  ``SentryHandler``; every envelope item is searched for every planted value.
- JSON lines: python-json-logger's ``JsonFormatter`` (with the exception's
  text in the line), ecs-logging's ``StdlibFormatter``, and this library's
  ``JsonFormatter``.

Printed: for each, how many of the planted values were found in what it
wrote, of how many it was given, and which; the source-line secrets
(``source_*``, ``verify_password``, ``call_api_key``) are counted apart.
The DSN's key is not counted for JSON lines (a formatter is not told it).
"""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import ecs_logging
import sentry_sdk
from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentry_logging_std import JsonFormatter, SentryHandler
from sentry_logging_std._client import INITIALIZER
from sentry_logging_std._worker import WORKER
from tests import secret_corpus as corpus

SOURCE_LINE_SECRETS = frozenset(
    {"source_token", "source_basic", "source_extra_password", "verify_password", "call_api_key"}
)


class Keep(Transport):
    """Keeps every envelope's items as text."""

    def __init__(self, options: Any = None) -> None:
        super().__init__({"dsn": corpus.DSN})
        self.items: list[str] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.items += [item.serialize().decode("utf-8", "replace") for item in envelope.items]


def reset() -> None:
    WORKER.flush(30)
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.Scope.get_global_scope().set_client(None)
    for scope in (sentry_sdk.Scope.get_isolation_scope(), sentry_sdk.Scope.get_current_scope()):
        scope.clear()
    INITIALIZER.reset()


def corpus_logger() -> logging.Logger:
    log = logging.getLogger(corpus.LOGGER)
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in log.handlers[:]:
        log.removeHandler(handler)
    return log


def sentry_sdk_events() -> str:
    reset()
    transport = Keep()
    sentry_sdk.init(dsn=corpus.DSN, transport=transport)
    log = corpus_logger()
    log.addHandler(logging.NullHandler())  # the integration reads records; nothing printed
    corpus.log_everything(log)
    sentry_sdk.flush(5)
    reset()
    return "\n".join(transport.items)


def our_events() -> str:
    reset()
    transport = Keep()
    log = corpus_logger()
    handler = SentryHandler(dsn=corpus.DSN, transport=transport)
    log.addHandler(handler)
    corpus.log_everything(log)
    handler.flush()
    log.removeHandler(handler)
    handler.close()
    reset()
    return "\n".join(transport.items)


def lines_of(formatter: logging.Formatter) -> Callable[[], str]:
    def run() -> str:
        reset()
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        log = corpus_logger()
        log.addHandler(handler)
        corpus.log_everything(log)
        log.removeHandler(handler)
        reset()
        return stream.getvalue()

    return run


def main() -> None:
    runs: list[tuple[str, Callable[[], str], bool]] = [
        ("Sentry events: sentry-sdk logging integration", sentry_sdk_events, True),
        ("Sentry events: sentry_logging_std.SentryHandler", our_events, True),
        ("JSON lines: python-json-logger JsonFormatter", lines_of(PjlJsonFormatter()), False),
        ("JSON lines: ecs-logging StdlibFormatter", lines_of(ecs_logging.StdlibFormatter()), False),
        ("JSON lines: sentry_logging_std.JsonFormatter", lines_of(JsonFormatter()), False),
    ]
    planted = corpus.every_secret()
    print(f"{len(planted)} planted values ({len(SOURCE_LINE_SECRETS)} in source lines)")
    for title, run, events in runs:
        text = run()
        assert text, title
        leaked = [name for name in corpus.leaks(text) if events or name != "dsn_key"]
        given = len(planted) if events else len(planted) - 1
        source = [name for name in leaked if name in SOURCE_LINE_SECRETS]
        print(
            f"{title:<50} {len(leaked):3d} of {given} leaked"
            f" ({len(source)} of {len(SOURCE_LINE_SECRETS)} source-line ones)"
        )
        if leaked:
            print(f"    {', '.join(sorted(leaked))}")


if __name__ == "__main__":
    main()
