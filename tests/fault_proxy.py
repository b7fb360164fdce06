"""A fault-injecting TCP proxy on 127.0.0.1, for tests and the soak script.

It sits in front of a real server (Bugsink, in the end-to-end tests) and is
switched at run time, from any thread, between these modes:

``pass``
    Every byte is forwarded both ways, unchanged.
``refuse``
    The listening socket is closed: a connection attempt is refused by the
    kernel (``ECONNREFUSED``). The port is bound again, the same number, when
    the mode changes back.
``reset``
    A connection is accepted and closed at once with an RST.
``blackhole``
    A connection is accepted and what the client sends is read and thrown
    away; nothing is ever answered. The connection is held until the client
    closes it, the mode changes or the proxy stops.
``slow``
    Forwarded, but after ``delay`` seconds and then ``chunk`` bytes at a
    time with ``interval`` seconds between chunks, both ways (``chunk=1`` and
    an interval below the client's timeout dribbles an answer byte by byte).
``lose_answer``
    The request is forwarded to the server, but its answer never reaches the
    client: the connection is reset when the first byte of it arrives. The
    server has done the work (stored the event); the client sees a dropped
    connection and cannot know.
``answer``
    The proxy reads the whole HTTP request and answers it itself with
    ``status`` (e.g. 429 with ``Retry-After``, 500, 413); nothing reaches the
    server. With ``every=n`` only every n-th request is answered so, the
    others are forwarded.

The mode is read when a connection is accepted: a connection keeps the mode
it started with. The proxy runs in daemon threads and stops by itself after
``lifetime`` seconds (or on :meth:`FaultProxy.stop`, or leaving the ``with``
block): it closes every socket it holds, so nothing outlives a test.

Every request the proxy answers itself is recorded (:attr:`FaultProxy.answered`)
with the event ids found in its envelope, and every connection is counted by
the mode it met (:attr:`FaultProxy.connections`), so a test can tell what the
client sent, not only what the server stored.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import json
import select
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Optional

__all__ = ["MODES", "AnsweredRequest", "FaultProxy", "envelope_event_ids"]

HOST = "127.0.0.1"
MODES = ("pass", "refuse", "reset", "blackhole", "slow", "lose_answer", "answer")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 8 * 1024 * 1024
_POLL = 0.05
_IO_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Fault:
    mode: str = "pass"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0
    chunk: int = 0
    interval: float = 0.0
    directions: tuple[str, ...] = ("up", "down")
    every: int = 1


@dataclass(frozen=True)
class AnsweredRequest:
    """One HTTP request the proxy answered itself."""

    status: int
    path: str
    event_ids: tuple[str, ...]
    at: float = field(default_factory=time.monotonic)


def envelope_event_ids(body: bytes, content_encoding: str = "") -> tuple[str, ...]:
    """The ``event_id`` (no dashes) of each event item of a (possibly gzipped) envelope body."""
    encoding = content_encoding.strip().lower()
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
    except (OSError, EOFError, zlib.error):
        return ()

    def line_at(pos: int) -> tuple[bytes, int]:
        end = body.find(b"\n", pos)
        return (body[pos:], len(body)) if end < 0 else (body[pos:end], end + 1)

    ids: list[str] = []
    first, pos = line_at(0)
    try:
        envelope_header = json.loads(first) if first else {}
    except ValueError:
        return ()
    while pos < len(body):
        line, pos = line_at(pos)
        if not line.strip():
            continue
        try:
            item_header = json.loads(line)
        except ValueError:
            return tuple(ids)
        length = item_header.get("length") if isinstance(item_header, dict) else None
        if isinstance(length, int):
            payload, pos = body[pos : pos + length], pos + length
            if body[pos : pos + 1] == b"\n":
                pos += 1
        else:
            payload, pos = line_at(pos)
        if not isinstance(item_header, dict) or item_header.get("type") != "event":
            continue
        try:
            event_id = json.loads(payload).get("event_id")
        except (ValueError, AttributeError):
            event_id = None
        event_id = event_id or envelope_header.get("event_id")
        if isinstance(event_id, str):
            ids.append(event_id.replace("-", ""))
    return tuple(ids)


def _reset(conn: socket.socket) -> None:
    """Close *conn* with an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


class FaultProxy:
    """A TCP proxy to ``upstream`` on 127.0.0.1 whose faults are switched at run time.

    Use it as a context manager (``with FaultProxy(("127.0.0.1", port)) as proxy:``) or call
    :meth:`start` and :meth:`stop`. It stops by itself after ``lifetime`` seconds.
    """

    def __init__(self, upstream: tuple[str, int], *, lifetime: float = 120.0) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime: must be positive")
        self.upstream = upstream
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._fault = _Fault()
        self._stop = threading.Event()
        self._refused = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._port = 0
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._acceptor: Optional[threading.Thread] = None
        self._generation = 0
        #: Connections accepted (or, in ``refuse`` mode, not), by the mode they met.
        self.connections: collections.Counter[str] = collections.Counter()
        #: Requests the proxy answered itself, in order.
        self.answered: list[AnsweredRequest] = []
        #: Bytes forwarded: ``"up"`` to the server, ``"down"`` to the client.
        self.forwarded_bytes: collections.Counter[str] = collections.Counter()
        #: Answers of the server withheld in ``lose_answer`` mode.
        self.lost_answers = 0
        self._answer_seq = 0

    # ---- lifecycle ----

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind a free port of 127.0.0.1 and start accepting (in ``pass`` mode unless set)."""
        if self._acceptor is not None:
            raise RuntimeError("the proxy was started already")
        self._listen(0)
        self._deadline = time.monotonic() + self.lifetime
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._acceptor.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every socket and wait (at most *timeout*) for the proxy's threads. Idempotent."""
        self._stop.set()
        with self._lock:
            self._close_listener()
            held = list(self._sockets)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()
        deadline = time.monotonic() + timeout
        threads = [self._acceptor] if self._acceptor is not None else []
        with self._lock:
            threads.extend(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def port(self) -> int:
        """The proxy's port: the same for its whole life, across ``refuse`` and back."""
        return self._port

    def dsn(self, upstream_dsn: str) -> str:
        """*upstream_dsn* with its host and port replaced by the proxy's."""
        parts = urllib.parse.urlsplit(upstream_dsn)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{HOST}:{self.port}" if userinfo else f"{HOST}:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    # ---- switching ----

    @property
    def mode(self) -> str:
        return self._fault.mode

    def set_pass(self) -> None:
        """Forward everything."""
        self._switch(_Fault("pass"))

    def set_refuse(self) -> None:
        """Close the listening socket: connections are refused."""
        self._switch(_Fault("refuse"))

    def set_reset(self) -> None:
        """Accept and reset every connection at once."""
        self._switch(_Fault("reset"))

    def set_blackhole(self) -> None:
        """Accept, read and never answer."""
        self._switch(_Fault("blackhole"))

    def set_slow(
        self,
        delay: float = 0.0,
        chunk: int = 1024,
        interval: float = 0.0,
        directions: tuple[str, ...] = ("up", "down"),
    ) -> None:
        """Forward after *delay*, then *chunk* bytes at a time, *interval* seconds apart.

        The throttle applies to the *directions* given: ``"up"`` (client to server) and
        ``"down"`` (server to client); the other direction flows freely.
        """
        if delay < 0 or interval < 0 or chunk < 1:
            raise ValueError("set_slow: delay and interval must be >= 0 and chunk >= 1")
        if not directions or not set(directions) <= {"up", "down"}:
            raise ValueError("set_slow: directions must be a non-empty subset of up, down")
        self._switch(
            _Fault(
                "slow",
                delay=delay,
                chunk=chunk,
                interval=interval,
                directions=tuple(directions),
            )
        )

    def set_lose_answer(self) -> None:
        """Forward requests, and reset the connection when the server's answer comes."""
        self._switch(_Fault("lose_answer"))

    def set_answer(
        self,
        status: int,
        headers: Optional[dict[str, str]] = None,
        body: bytes = b"",
        every: int = 1,
    ) -> None:
        """Answer requests with *status* (and *headers*, *body*) without forwarding them.

        With *every* > 1 only every *every*-th request is answered so; the others are
        forwarded to the server as in ``pass`` mode.
        """
        if every < 1:
            raise ValueError("set_answer: every must be at least 1")
        self._switch(
            _Fault(
                "answer",
                status=status,
                headers=tuple((headers or {}).items()),
                body=body,
                every=every,
            )
        )

    def set_rate_limited(self, retry_after: float) -> None:
        """Answer 429 with ``Retry-After: <retry_after>`` (seconds)."""
        self.set_answer(429, {"Retry-After": f"{retry_after:g}"})

    def _switch(self, fault: _Fault) -> None:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the proxy has stopped")
            previous = self._fault
            self._fault = fault
            self._generation += 1
            if fault.mode == "refuse":
                # The accepting thread closes the listener between two waits: closed here,
                # while that thread waits on it, the kernel would go on accepting until the
                # wait ends.
                self._refused.clear()
            elif previous.mode == "refuse" and self._listener is None:
                self._listen(self._port)
        if fault.mode == "refuse" and not self._refused.wait(_IO_TIMEOUT):
            raise RuntimeError("the proxy did not close its listening socket in time")

    # ---- internals ----

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((HOST, port))
        except OSError as exc:
            listener.close()
            raise RuntimeError(f"the proxy could not bind {HOST}:{port} again: {exc}") from exc
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._port = int(listener.getsockname()[1])

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept_loop(self) -> None:
        try:
            while not self._stop.is_set():
                if time.monotonic() > self._deadline:
                    break
                with self._lock:
                    if self._fault.mode == "refuse":
                        self._close_listener()
                        self._refused.set()
                    listener = self._listener
                if listener is None:
                    time.sleep(_POLL)
                    continue
                try:
                    readable, _, _ = select.select([listener], [], [], _POLL)
                except (OSError, ValueError):  # closed by stop()
                    continue
                if not readable:
                    continue
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, OSError):
                    continue
                self._serve(conn)
        finally:
            self._stop.set()
            with self._lock:
                self._close_listener()
                held = list(self._sockets)
            for sock in held:
                with contextlib.suppress(OSError):
                    sock.close()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            fault, generation = self._fault, self._generation
            self.connections[fault.mode] += 1
            if fault.mode in ("reset", "refuse"):  # refuse: accepted just before the switch
                _reset(conn)
                return
            conn.settimeout(_IO_TIMEOUT)
            self._sockets.add(conn)
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(
                target=self._connection,
                args=(conn, fault, generation),
                name=f"fault-proxy-{fault.mode}",
                daemon=True,
            )
            self._threads.append(thread)
        thread.start()

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
                with contextlib.suppress(OSError):
                    sock.close()

    def _connection(self, conn: socket.socket, fault: _Fault, generation: int) -> None:
        try:
            if fault.mode == "blackhole":
                self._swallow(conn, generation)
            elif fault.mode == "answer":
                self._answer(conn, fault)
            else:  # pass, slow, lose_answer
                self._pipe(conn, fault)
        except OSError:
            pass
        finally:
            self._forget(conn)

    def _swallow(self, conn: socket.socket, generation: int) -> None:
        """Read and discard until the client closes, the mode changes or the proxy stops."""
        while not self._stop.is_set() and self._generation == generation:
            readable, _, _ = select.select([conn], [], [], _POLL)
            if readable and not conn.recv(65536):
                return

    def _read_request(self, conn: socket.socket) -> tuple[str, dict[str, str], bytes, bytes]:
        """Path, headers (lower-case names), body, and the request's bytes as received."""
        conn.settimeout(_IO_TIMEOUT)
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > _MAX_HEADER_BYTES or self._stop.is_set():
                raise OSError("request headers too long")
            piece = conn.recv(65536)
            if not piece:
                raise OSError("client closed before the end of its headers")
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = min(int(headers.get("content-length", "0") or 0), _MAX_BODY_BYTES)
        while len(body) < length and not self._stop.is_set():
            piece = conn.recv(65536)
            if not piece:
                break
            body += piece
        parts = request_line.split(" ")
        path = parts[1] if len(parts) > 1 else ""
        return path, headers, body[:length], head + b"\r\n\r\n" + body

    def _answer(self, conn: socket.socket, fault: _Fault) -> None:
        path, headers, body, raw = self._read_request(conn)
        with self._lock:
            self._answer_seq += 1
            forward = self._answer_seq % fault.every != 0
        if forward:
            self._pipe(conn, fault, initial=raw)
            return
        ids = envelope_event_ids(body, headers.get("content-encoding", ""))
        reply_body = fault.body or json.dumps({"detail": f"fault proxy: {fault.status}"}).encode()
        lines = [f"HTTP/1.1 {fault.status} {_REASONS.get(fault.status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in fault.headers]
        lines += [
            "Content-Type: application/json",
            f"Content-Length: {len(reply_body)}",
            "Connection: close",
        ]
        with self._lock:
            self.answered.append(AnsweredRequest(fault.status, path, ids))
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply_body)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)

    def _pipe(self, conn: socket.socket, fault: _Fault, initial: bytes = b"") -> None:
        upstream = socket.create_connection(self.upstream, timeout=_IO_TIMEOUT)
        with self._lock:
            if self._stop.is_set():
                upstream.close()
                return
            self._sockets.add(upstream)
        try:
            if initial:
                upstream.sendall(initial)
                with self._lock:
                    self.forwarded_bytes["up"] += len(initial)
            if fault.mode == "slow" and fault.delay:
                self._stop.wait(fault.delay)
            slow = fault.directions if fault.mode == "slow" else ()
            peers = {conn: (upstream, "up"), upstream: (conn, "down")}
            open_ends = {conn, upstream}
            while open_ends and not self._stop.is_set():
                readable, _, _ = select.select(list(open_ends), [], [], _POLL)
                for source in readable:
                    target, direction = peers[source]
                    if direction == "down" and fault.mode == "lose_answer":
                        if source.recv(1):
                            with self._lock:
                                self.lost_answers += 1
                            _reset(conn)
                        return
                    throttled = direction in slow
                    data = source.recv(fault.chunk if throttled else 65536)
                    if not data:
                        open_ends.discard(source)
                        with contextlib.suppress(OSError):
                            target.shutdown(socket.SHUT_WR)
                        continue
                    target.sendall(data)
                    with self._lock:
                        self.forwarded_bytes[direction] += len(data)
                    if throttled and fault.interval:
                        self._stop.wait(fault.interval)
        finally:
            self._forget(upstream)

    # ---- reading what happened ----

    def answered_ids(self) -> set[str]:
        """Event ids (no dashes) of every request the proxy answered itself."""
        with self._lock:
            return {event_id for request in self.answered for event_id in request.event_ids}
