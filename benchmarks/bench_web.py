"""Per-request overhead of WsgiMiddleware vs sentry-sdk's SentryWsgiMiddleware vs the bare app.

Run: ``python benchmarks/bench_web.py`` (``--quick`` for a short run).

The three stacks serve the same small WSGI app, called in-process the way a
server calls it, in the same run, alternating rounds, with one client whose
transport drops envelopes. Measured twice: tracing off, and every request
traced (``traces_sample_rate=1.0``); with tracing off also for a body that is
not a list (Flask's and Django's are not; a list body is handed to the server
as it is, the other kinds pass through the middleware's crash guard and
sentry-sdk's per-chunk scope wrapper). Printed: median microseconds per request,
the overhead over the bare app, and the ratio of our overhead to sentry-sdk's
(at or below 1.0 meets the target).

The last two lines time a crashing request (event built and "sent", stack
logged, JSON 500) against sentry-sdk's capture plus the server's re-raise.
The middleware builds the event on the library's capture worker: the first
line is what the request thread pays (what the client waits for), each
request timed alone and the worker drained, untimed, before the next; the
second adds the worker's time for the same requests (the CPU the crash costs
in all), for information.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable

import sentry_sdk
from bench_common import DSN, DropTransport
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

from sentry_logging_std import WsgiMiddleware
from sentry_logging_std._client import INITIALIZER
from sentry_logging_std._worker import WORKER

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class Body:
    """A response body that is not a list (as Flask's and Django's are not)."""

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk

    def __iter__(self) -> Iterator[bytes]:
        yield self.chunk

    def close(self) -> None:
        pass


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    if path == "/iterable":
        return Body(b"ok")
    return [b"ok"]


def environ_for(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "a=1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "HTTP_AUTHORIZATION": "Bearer x",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }


def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda data: None


def call(stack: WsgiApp, path: str) -> None:
    try:
        result = stack(environ_for(path), start_response)
    except RuntimeError:
        return  # the server would log it and answer 500
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def start_client(traces: float | None) -> None:
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=0)
    sentry_sdk.Scope.get_global_scope().set_client(None)
    INITIALIZER.reset()
    sentry_sdk.init(dsn=DSN, transport=DropTransport(), traces_sample_rate=traces)


def measure(stack: WsgiApp, path: str, n: int) -> float:
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(n):
        call(stack, path)
    return (clock() - start) / n / 1000


def compare(label: str, stacks: dict[str, WsgiApp], path: str, n: int, rounds: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in stacks}
    for _ in range(rounds):
        for name, stack in stacks.items():
            times[name].append(measure(stack, path, n))
    median = {name: statistics.median(values) for name, values in times.items()}
    bare = median.get("bare", 0.0)
    ours, sdk = median["ours"] - bare, median["sentry-sdk"] - bare
    print(
        f"{label:<22} bare {bare:7.1f} us   sentry-sdk {median['sentry-sdk']:7.1f} us"
        f" (+{sdk:6.1f})   ours {median['ours']:7.1f} us (+{ours:6.1f})"
        f"   overhead ratio ours/sentry-sdk {ours / sdk:.2f}"
    )


def compare_crash(stacks: dict[str, WsgiApp], n: int, rounds: int) -> None:
    clock = time.perf_counter_ns
    caller: dict[str, list[float]] = {name: [] for name in stacks}
    total: dict[str, list[float]] = {name: [] for name in stacks}
    for _ in range(rounds):
        for name, stack in stacks.items():
            for _ in range(n):
                start = clock()
                call(stack, "/boom")
                returned = clock()
                WORKER.flush(30)
                caller[name].append((returned - start) / 1000)
                total[name].append((clock() - start) / 1000)
    for label, times in (("crash: request thread", caller), ("crash: incl. worker", total)):
        median = {name: statistics.median(values) for name, values in times.items()}
        bare = median["bare"]
        ours, sdk = median["ours"] - bare, median["sentry-sdk"] - bare
        print(
            f"{label:<22} bare {bare:7.1f} us   sentry-sdk {median['sentry-sdk']:7.1f} us"
            f" (+{sdk:6.1f})   ours {median['ours']:7.1f} us (+{ours:6.1f})"
            f"   overhead ratio ours/sentry-sdk {ours / sdk:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, rounds = (200, 5) if args.quick else (2000, 9)
    logging.getLogger("sentry_logging_std.web").addHandler(logging.NullHandler())
    logging.getLogger("sentry_logging_std.web").propagate = False
    for traces in (None, 1.0):
        start_client(traces)
        stacks: dict[str, WsgiApp] = {
            "bare": app,
            "sentry-sdk": SentryWsgiMiddleware(app),
            "ours": WsgiMiddleware(app),
        }
        label = "tracing off" if traces is None else "every request traced"
        compare(label, stacks, "/", n, rounds)
        if traces is None:
            compare("  body not a list", stacks, "/iterable", n, rounds)
    start_client(None)
    crash: dict[str, WsgiApp] = {
        "sentry-sdk": SentryWsgiMiddleware(app),
        "ours": WsgiMiddleware(app),
    }
    compare_crash({"bare": app, **crash}, max(n // 10, 20), rounds)


if __name__ == "__main__":
    main()
