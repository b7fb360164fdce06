"""``python -m sentry_logging_std spool status|send|purge``: look at, deliver or empty a spool."""

from __future__ import annotations

import argparse
import os
from typing import Optional

from sentry_sdk.envelope import Envelope

from sentry_logging_std._options import parse_dsn
from sentry_logging_std._spool import Spool
from sentry_logging_std._transport import prepare_stored, retryable, send_envelope

__all__ = ["DEFAULT_DIR", "add_arguments"]

#: Where the README's demo keeps its spool, and the commands look by default.
DEFAULT_DIR = ".sentry-spool"

EXIT_OK, EXIT_CONFIG, EXIT_REFUSED, EXIT_SERVER, EXIT_UNREACHABLE = 0, 2, 3, 4, 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    for name, run, text in (
        ("status", _status, "what waits in the spool: files, bytes, the oldest, corrupt ones"),
        ("send", _send, "deliver what waits, oldest first, to --dsn (default: $SENTRY_DSN)"),
        ("purge", _purge, "remove everything from the spool, and say how many files went"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "--dir",
            default=os.environ.get("SENTRY_SPOOL_DIR") or DEFAULT_DIR,
            help=f"the spool directory (default: $SENTRY_SPOOL_DIR or {DEFAULT_DIR})",
        )
        if name == "send":
            action.add_argument("--dsn", help="where to send (default: $SENTRY_DSN)")
            action.add_argument(
                "--timeout", type=float, default=10.0, help="seconds per send (default 10)"
            )
        action.set_defaults(run=run)


def _open(directory: str) -> Optional[Spool]:
    spool = Spool(directory)
    if not spool.ready.is_dir():
        print(f"no spool in {os.path.abspath(directory)}")
        return None
    return spool


def _status(args: argparse.Namespace) -> int:
    spool = _open(args.dir)
    if spool is None:
        return EXIT_OK
    status = spool.status()
    oldest = "-" if status.oldest_age is None else f"{status.oldest_age:.0f}s ago"
    print(f"spool {spool.directory.resolve()}")
    print(f"waiting: {status.waiting} envelope(s), {status.waiting_bytes} bytes, oldest {oldest}")
    print(f"being sent: {status.claimed}; partial writes: {status.partial}")
    print(f"corrupt (set aside): {status.corrupt}")
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    spool = _open(args.dir)
    if spool is None:
        return EXIT_OK
    removed = spool.purge()
    print(f"purged {removed} file(s) from {spool.directory.resolve()}")
    return EXIT_OK


def _send(args: argparse.Namespace) -> int:
    raw = args.dsn or os.environ.get("SENTRY_DSN")
    if not raw:
        print("configuration error: no DSN: pass --dsn or set SENTRY_DSN")
        return EXIT_CONFIG
    try:
        dsn = parse_dsn(raw)
    except (TypeError, ValueError) as exc:
        print(f"configuration error: {exc}")
        return EXIT_CONFIG
    spool = _open(args.dir)
    if spool is None:
        return EXIT_OK
    spool.recover()
    sent = rejected = 0
    code = EXIT_OK
    for name in spool.waiting():
        claimed = spool.claim(name)
        if claimed is None:
            continue  # a running process is sending it
        payload = spool.read(claimed)
        if payload is None:
            continue  # torn: set aside and counted
        try:
            envelope = Envelope.deserialize(payload)
        except Exception:
            spool.set_aside(claimed)
            continue
        result = send_envelope(dsn, prepare_stored(envelope).serialize(), args.timeout)
        if result.accepted:
            spool.done(claimed)
            sent += 1
            continue
        if result.status in (401, 403) or retryable(result):
            # A wrong key is the DSN's fault, not the event's: keep it.
            spool.release(claimed)
            print(f"stopped: {dsn.netloc}: {result.describe()}")
            if result.status in (401, 403):
                code = EXIT_REFUSED
            else:
                code = EXIT_UNREACHABLE if result.status is None else EXIT_SERVER
            break
        spool.done(claimed)  # refused for good (too large, malformed): it never will go
        rejected += 1
        print(f"rejected by the server and removed: {name}: {result.describe()}")
    status = spool.status()
    corrupt = spool.counts["spool_corrupt"]
    print(
        f"sent {sent}, rejected {rejected}, corrupt set aside {corrupt}; "
        f"still waiting {status.waiting} in {spool.directory.resolve()}"
    )
    return code
