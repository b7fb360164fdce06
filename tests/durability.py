"""Trials of the spool's promises in real processes: exit with a queue, SIGKILL at a random moment.

Each trial runs a fresh interpreter against a server on 127.0.0.1 and returns
what was logged and where each event went, for tests/test_durability.py (a
few trials per run) and benchmarks/durability_loops.py (many).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentry_logging_std._spool import Spool
from tests.envelope_server import envelope_server, hang_up_server, silent_server

ROOT = Path(__file__).resolve().parent.parent

#: How long after a log call returns its event is promised to be on disk (the
#: README's "Durable means"): the event is built, then written in the writer's
#: next batch; neither waits for the network.
ON_DISK_WITHIN = 1.0

EXIT_CHILD = """
import atexit, json, logging, os, time
marks = {}
def report():  # registered first, so it runs last: after every exit hook
    print("EXIT", time.monotonic() - marks["start"], flush=True)
    print("STATS", json.dumps(handler.stats()), flush=True)
atexit.register(report)
from sentry_logging_std import SentryHandler
handler = SentryHandler(
    dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"],
    shutdown_timeout=float(os.environ["SHUTDOWN_TIMEOUT"]),
    transport_timeout=float(os.environ["TRANSPORT_TIMEOUT"]), flood_limit=0,
    queue_size=5000, spool_max_files=5000,
)
log = logging.getLogger("exit")
log.addHandler(handler)
log.propagate = False
for n in range(int(os.environ["N"])):
    log.error("exit %d", n)
atexit.register(lambda: marks.setdefault("start", time.monotonic()))
"""

KILL_CHILD = """
import logging, os, sys, time
from sentry_logging_std import SentryHandler
handler = SentryHandler(dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"], flood_limit=0,
                        transport_timeout=30.0)
handler.init()
log = logging.getLogger("kill")
log.addHandler(handler)
log.propagate = False
print("ready", flush=True)
n = 0
while True:
    log.error("tick %d", n)
    # One write per line (print makes several): a pipe takes it whole or not at all.
    sys.stdout.write(f"{n} {time.monotonic()}\\n")
    sys.stdout.flush()
    n += 1
    time.sleep(0.02)
"""

DRAIN_CHILD = """
import logging, os, time
from sentry_logging_std import SentryHandler
from sentry_logging_std._spool import Spool
handler = SentryHandler(dsn=os.environ["DSN"], spool_dir=os.environ["SPOOL"], flood_limit=0)
handler.init()  # starts the replay of what waits in the spool
spool = Spool(os.environ["SPOOL"])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if not spool.waiting() and not os.listdir(spool.claimed):
        break
    time.sleep(0.05)
handler.flush()
print("drained", not spool.waiting(), flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def on_disk(directory: Path) -> int:
    """Envelopes in the spool: waiting, and claimed by a send that never settled."""
    spool = Spool(directory)
    return len(spool.waiting()) + len(os.listdir(spool.claimed))


@dataclass
class ExitTrial:
    logged: int
    exit_seconds: float
    stats: dict[str, int]
    on_disk: int
    server_requests: int

    @property
    def sent(self) -> int:
        return self.stats.get("sent", 0)

    @property
    def counted_drops(self) -> int:
        return sum(v for k, v in self.stats.items() if k.startswith("dropped_")) + self.stats.get(
            "spool_evicted", 0
        )

    @property
    def accounted(self) -> int:
        return self.sent + self.on_disk + self.counted_drops


@contextmanager
def exit_server(kind: str) -> Iterator[tuple[str, Any]]:
    """A server of *kind* (black-hole, slow, hang-up); yields its DSN and a callable
    returning how many requests it read."""
    if kind == "black-hole":
        with silent_server() as port:
            yield f"http://k@127.0.0.1:{port}/1", lambda: 0
    elif kind == "slow":
        with envelope_server() as server:
            server.delay = 0.05
            yield server.dsn(), lambda: server.requests
    elif kind == "hang-up":
        with hang_up_server() as (port, requests):
            yield f"http://k@127.0.0.1:{port}/1", lambda: requests[0]
    else:  # pragma: no cover - a typo in a caller
        raise ValueError(kind)


def exit_trial(
    kind: str, directory: Path, count: int = 2000, shutdown_timeout: float = 2.0
) -> ExitTrial:
    """Log *count* errors against a server of *kind* and exit."""
    with exit_server(kind) as (dsn, requests):
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(EXIT_CHILD)],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(
                DSN=dsn,
                SPOOL=str(directory),
                N=str(count),
                TRANSPORT_TIMEOUT="5",
                SHUTDOWN_TIMEOUT=str(shutdown_timeout),
            ),
            check=False,
        )
        served = requests()
    if result.returncode != 0 or "STATS " not in result.stdout:
        raise AssertionError(f"child failed ({result.returncode}): {result.stderr[-2000:]}")
    stats = json.loads(result.stdout.rsplit("STATS ", 1)[1])
    took = float(result.stdout.rsplit("EXIT ", 1)[1].split()[0])
    return ExitTrial(count, took, stats, on_disk(directory), served)


@dataclass
class KillTrial:
    seed: int
    logged: list[tuple[int, float]]  # (n, when its log call returned), monotonic
    killed_at: float
    received: list[str]  # the messages the live server got after the restart
    drained: bool

    @property
    def promised(self) -> set[str]:
        """Errors logged ON_DISK_WITHIN or longer before the kill."""
        return {f"tick {n}" for n, at in self.logged if at < self.killed_at - ON_DISK_WITHIN}

    @property
    def possible(self) -> set[str]:
        """Every error that may have been logged: the printed ones and the call in progress."""
        last = max((n for n, _ in self.logged), default=-1)
        return {f"tick {n}" for n in range(last + 2)}

    def problems(self) -> list[str]:
        found = []
        missing = self.promised - set(self.received)
        if missing:
            found.append(f"lost {len(missing)} promised: {sorted(missing)[:5]}")
        twice = sorted({m for m in self.received if self.received.count(m) > 1})
        if twice:
            found.append(f"delivered twice: {twice[:5]}")
        unknown = set(self.received) - self.possible
        if unknown:
            found.append(f"never logged: {sorted(unknown)[:5]}")
        if not self.drained:
            found.append("the restart did not empty the spool")
        return found


def kill_trial(directory: Path, seed: int) -> KillTrial:
    """Log an error every 20 ms against a black hole, SIGKILL the process at a random
    moment (0.2-2 s more than the promise after it is ready), then restart against a live server."""
    rng = random.Random(seed)
    logged: list[tuple[int, float]] = []
    with silent_server() as port:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(KILL_CHILD)],
            env=_env(DSN=f"http://k@127.0.0.1:{port}/1", SPOOL=str(directory)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            ready = child.stdout.readline().strip()
            if ready != "ready":
                raise AssertionError(f"child did not start: {ready!r} {child.stderr}")
            time.sleep(rng.uniform(ON_DISK_WITHIN + 0.2, ON_DISK_WITHIN + 2.0))
            killed_at = time.monotonic()
            child.send_signal(signal.SIGKILL)
            out, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=30)
    for line in out.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # cut by the kill: that call counts as in progress (possible, not promised)
        n, at = line.split()
        logged.append((int(n), float(at)))
    with envelope_server() as server:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(DRAIN_CHILD)],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(DSN=server.dsn(), SPOOL=str(directory)),
            check=False,
        )
        received = sorted(
            str(event.get("logentry", {}).get("formatted") or event.get("message", ""))
            for event in server.events()
        )
    drained = "drained True" in result.stdout
    return KillTrial(seed, logged, killed_at, received, drained)
