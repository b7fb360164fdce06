"""Shared by the benchmark scripts: a transport that drops envelopes, and a chained failure."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

#: Never contacted: every benchmark passes DropTransport too.
DSN = "http://publickey@127.0.0.1:9/1"


class DropTransport(Transport):
    """Accepts envelopes and throws them away, so only the calling thread's work is timed."""

    def __init__(self, options: Any = None) -> None:
        super().__init__({"dsn": DSN})

    def capture_envelope(self, envelope: Envelope) -> None:
        pass


def fail(order_id: int) -> None:
    """Raise a two-level chain: KeyError, then RuntimeError from it."""
    try:
        raise KeyError(order_id)
    except KeyError as exc:
        raise RuntimeError(f"order {order_id} failed") from exc


@contextmanager
def black_hole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()
