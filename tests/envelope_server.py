"""A tiny Sentry-protocol endpoint on 127.0.0.1 for transport tests.

It records every envelope POSTed to it and answers with a chosen status; it
can also accept connections and never answer, to test timeouts.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class EnvelopeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many forked children may send at once

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        #: Seconds to wait before answering (a slow server).
        self.delay = 0.0
        self.headers_to_send: dict[str, str] = {}
        self.envelopes: list[bytes] = []
        self.auth_headers: list[str] = []
        #: Every POST, whatever it was answered.
        self.requests = 0
        self.received = threading.Condition()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def dsn(self, key: str = "publickey", project: str = "42") -> str:
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    def events(self) -> list[dict[str, Any]]:
        """The event items of every envelope received, parsed."""
        events = []
        for body in self.envelopes:
            lines = body.split(b"\n")
            for header_line, payload in zip(lines[1::2], lines[2::2]):
                if json.loads(header_line).get("type") == "event":
                    events.append(json.loads(payload))
        return events

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until *count* POSTs were answered (any status)."""
        with self.received:
            return self.received.wait_for(lambda: self.requests >= count, timeout)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        with self.received:
            return self.received.wait_for(lambda: len(self.envelopes) >= count, timeout)


class _Handler(BaseHTTPRequestHandler):
    server: EnvelopeServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.received:
            if self.server.status == 200:
                self.server.envelopes.append(body)
            self.server.auth_headers.append(self.headers.get("X-Sentry-Auth", ""))
            self.server.requests += 1
            self.server.received.notify_all()
        if self.server.delay:
            time.sleep(self.server.delay)
        answer = json.dumps({"id": "accepted"} if self.server.status == 200 else {}).encode()
        self.send_response(self.server.status)
        for name, value in self.server.headers_to_send.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def envelope_server() -> Iterator[EnvelopeServer]:
    server = EnvelopeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


@contextmanager
def hang_up_server() -> Iterator[tuple[int, list[int]]]:
    """A port whose server reads each request whole, starts its answer and hangs up
    halfway through the status line; yields the port and a one-item list counting
    the requests it read."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    requests = [0]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            requests[0] += 1
            conn.sendall(b"HTTP/1.1 20")
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1]), requests
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port
