"""A durable spool: envelopes on disk until a server has taken them.

Layout of a spool directory (several processes may share one)::

    ready/    <time ns>-<pid>-<seq>-<size>.env      complete, waiting to be sent
    claimed/  <ready name>@<pid>                     being sent by process <pid>
    tmp/      <pid>-<seq>.part                       being written
    corrupt/  files that failed their check, set aside (never read again)

A file is written to ``tmp/``, flushed, fsynced and renamed into ``ready/``:
a reader never sees half a file there. Each file is framed (magic, CRC-32 and
length before the zlib-compressed payload), so a file torn anyway (a crash of the machine
before the data reached the disk, a truncated copy) is detected, moved to
``corrupt/`` and counted, never parsed. Sorting names sorts by age, and the
size in the name lets the bounds be kept from one directory listing.

A sender claims a file by renaming it into ``claimed/`` with its pid: rename
is atomic, so of two processes (gunicorn workers sharing the directory) one
wins and the other gets ``FileNotFoundError``. A claim lasts one send; a claim
whose process is gone, or that is older than ``stale_after`` seconds, is put
back into ``ready/`` by whoever looks next.

Leaf module: imports nothing from the package.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

__all__ = ["Spool", "SpoolStatus", "frame", "unframe"]

MAGIC = b"SLSPOOL2"  # payload compressed with zlib
_PLAIN_MAGIC = b"SLSPOOL1"  # payload as it is (still read)
_HEADER = struct.Struct(">IQ")  # CRC-32 of the stored bytes, their length
HEADER_SIZE = len(MAGIC) + _HEADER.size
SUFFIX = ".env"
#: Fast compression: event JSON shrinks five- to tenfold, so the byte bound
#: holds that many more events, for about a millisecond per 200 KB.
_LEVEL = 1

#: sentry-sdk prints this logger's records when ``debug=True``.
diagnostics = logging.getLogger("sentry_sdk.errors")


def frame(payload: bytes) -> bytes:
    """The bytes of a spool file holding *payload* (compressed)."""
    stored = zlib.compress(payload, _LEVEL)
    return MAGIC + _HEADER.pack(zlib.crc32(stored), len(stored)) + stored


def unframe(data: bytes) -> Optional[bytes]:
    """The payload of a spool file's bytes, or None if they are torn or corrupt."""
    if len(data) < HEADER_SIZE or not data.startswith((MAGIC, _PLAIN_MAGIC)):
        return None
    crc, length = _HEADER.unpack_from(data, len(MAGIC))
    stored = data[HEADER_SIZE:]
    if len(stored) != length or zlib.crc32(stored) != crc:
        return None
    if data.startswith(_PLAIN_MAGIC):
        return stored
    try:
        return zlib.decompress(stored)
    except zlib.error:
        return None


def _size_of(name: str) -> int:
    """The file size recorded in a ready name (0 if the name is not ours)."""
    try:
        return int(name[: -len(SUFFIX)].rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class SpoolStatus:
    """What a spool directory holds right now."""

    waiting: int
    waiting_bytes: int
    oldest_age: Optional[float]  # seconds, None when nothing waits
    claimed: int
    corrupt: int
    partial: int


class Spool:
    """One spool directory; thread-safe, and safe to share between processes."""

    def __init__(
        self,
        directory: Union[str, os.PathLike[str]],
        max_bytes: int = 50 * 1024 * 1024,
        max_files: int = 1000,
        stale_after: float = 60.0,
        fsync: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.stale_after = stale_after
        self.fsync = fsync
        self.ready = self.directory / "ready"
        self.claimed = self.directory / "claimed"
        self.tmp = self.directory / "tmp"
        self.corrupt = self.directory / "corrupt"
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._seq = 0

    def create(self) -> None:
        """Make the directories and prove they can be written; raises ``OSError`` if not."""
        for path in (self.ready, self.claimed, self.tmp, self.corrupt):
            path.mkdir(parents=True, exist_ok=True)
        probe = self.tmp / f"probe-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts, safe while other threads count."""
        with self._lock:
            return dict(self.counts)

    def reset_after_fork(self) -> None:
        """In a child: a new lock and counts of its own."""
        self._lock = threading.Lock()
        self.counts = collections.Counter()

    # -- writing -----------------------------------------------------------

    def write(self, payload: bytes) -> str:
        """Store *payload* durably; return its name in ``ready/``. Raises ``OSError``.

        The oldest files go first when the spool would hold more than
        ``max_files`` files or ``max_bytes`` bytes (counted as ``spool_evicted``).
        """
        (result,) = self.write_many([payload])
        if isinstance(result, OSError):
            raise result
        return result

    def write_many(self, payloads: list[bytes]) -> list[Union[str, OSError]]:
        """Store every payload durably, as one batch; each one's name in ``ready/``, or the
        error that kept it out.

        Every file is written first, then each is fsynced (the disk takes them
        together), renamed into ``ready/``, and the directory fsynced once; the
        bounds are kept once for the batch. A file in ``ready/`` is complete
        and on disk: it survives SIGKILL and power loss from the moment its
        name is returned.
        """
        pid = os.getpid()
        written: list[Union[tuple[Path, str], OSError]] = []
        handles: list[tuple[int, Path]] = []
        for payload in payloads:
            data = frame(payload)
            seq = self._next_seq()
            part = self.tmp / f"{pid}-{seq}.part"
            name = f"{time.time_ns():020d}-{pid}-{seq}-{len(data)}{SUFFIX}"
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:
                written.append(exc)
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                os.close(fd)
                with contextlib.suppress(OSError):
                    part.unlink()
                written.append(exc)
                continue
            handles.append((fd, part))
            written.append((part, name))
        failed: dict[Path, OSError] = {}
        try:
            for fd, part in handles:
                try:
                    if self.fsync:
                        os.fsync(fd)
                except OSError as exc:
                    failed[part] = exc
        finally:
            for fd, _ in handles:
                with contextlib.suppress(OSError):
                    os.close(fd)
        results: list[Union[str, OSError]] = []
        for entry in written:
            if isinstance(entry, OSError):
                results.append(entry)
                continue
            part, name = entry
            problem = failed.get(part)
            if problem is None:
                try:
                    os.replace(part, self.ready / name)
                except OSError as exc:
                    problem = exc
            if problem is not None:
                with contextlib.suppress(OSError):
                    part.unlink()
                results.append(problem)
            else:
                results.append(name)
        stored = {r for r in results if isinstance(r, str)}
        if stored:
            if self.fsync:
                self._fsync_dir(self.ready)
            self._count("spooled", len(stored))
            # As if written one by one: the newest stays, the oldest go first.
            self._enforce_bounds(keep={max(stored)})
        return results

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _enforce_bounds(self, keep: set[str]) -> None:
        names = self.waiting()
        total = sum(_size_of(n) for n in names)
        for name in names:
            if len(names) <= self.max_files and total <= self.max_bytes:
                break
            if name in keep:
                continue
            try:
                (self.ready / name).unlink()
            except FileNotFoundError:
                pass  # claimed or evicted by another process meanwhile
            else:
                self._count("spool_evicted")
                diagnostics.warning(
                    "sentry-logging-std: spool %s full (%d files, %d bytes at most): "
                    "dropped its oldest envelope %s",
                    self.directory,
                    self.max_files,
                    self.max_bytes,
                    name,
                )
            names = [n for n in names if n != name]
            total -= _size_of(name)

    # -- reading -----------------------------------------------------------

    def waiting(self) -> list[str]:
        """Names in ``ready/``, oldest first."""
        try:
            return sorted(n for n in os.listdir(self.ready) if n.endswith(SUFFIX))
        except OSError:
            return []

    def claim(self, name: str) -> Optional[Path]:
        """Take *name* for this process; None if another process took it first."""
        target = self.claimed / f"{name}@{os.getpid()}"
        try:
            os.replace(self.ready / name, target)
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(target)  # the claim's age starts now
        return target

    def read(self, claimed: Path) -> Optional[bytes]:
        """The payload of a claimed file, or None (the file is set aside as corrupt)."""
        try:
            data = claimed.read_bytes()
        except FileNotFoundError:
            return None
        payload = unframe(data)
        if payload is None:
            self.set_aside(claimed)
        return payload

    def set_aside(self, path: Path) -> None:
        """Move a torn or unreadable file to ``corrupt/`` and count it."""
        diagnostics.warning(
            "sentry-logging-std: spool file %s is torn or corrupt; set aside in %s",
            path.name,
            self.corrupt,
        )
        try:
            os.replace(path, self.corrupt / f"{path.name}.{time.time_ns()}")
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
        self._count("spool_corrupt")

    def done(self, claimed: Path) -> None:
        """The claimed file was delivered (or refused for good): remove it."""
        with contextlib.suppress(FileNotFoundError):
            claimed.unlink()

    def release(self, claimed: Path) -> bool:
        """Put a claimed file back, to be sent later; False if it was gone."""
        name = claimed.name.rpartition("@")[0]
        try:
            os.replace(claimed, self.ready / name)
        except FileNotFoundError:
            return False
        return True

    def recover(self, busy: frozenset[str] = frozenset()) -> int:
        """Put back claims whose process is gone or that are stale; set aside old partial files.

        *busy* holds the claimed names this process is sending right now.
        Returns how many claims went back to ``ready/``.
        """
        recovered = 0
        now = time.time()
        me = os.getpid()
        try:
            claims = os.listdir(self.claimed)
        except OSError:
            claims = []
        for entry in claims:
            if entry in busy:
                continue
            _, _, pid_text = entry.rpartition("@")
            try:
                pid = int(pid_text)
                age = now - os.stat(self.claimed / entry).st_mtime
            except (ValueError, OSError):
                continue
            mine_but_idle = pid == me  # a previous process with this pid, or a lost send
            stale = mine_but_idle or not _pid_alive(pid) or age > self.stale_after
            if stale and self.release(self.claimed / entry):
                recovered += 1
        try:
            parts = os.listdir(self.tmp)
        except OSError:
            parts = []
        for entry in parts:
            path = self.tmp / entry
            try:
                old = now - os.stat(path).st_mtime > self.stale_after
            except OSError:
                continue
            pid_text = entry.partition("-")[0]
            dead = pid_text.isdigit() and int(pid_text) != me and not _pid_alive(int(pid_text))
            if old or dead:
                # Written by a process that died before the rename: never complete.
                self.set_aside(path)
        return recovered

    # -- the command line's view ---------------------------------------------

    def status(self) -> SpoolStatus:
        names = self.waiting()
        oldest: Optional[float] = None
        if names:
            try:
                oldest = max(0.0, time.time() - int(names[0].split("-", 1)[0]) / 1e9)
            except ValueError:
                oldest = None

        def count(path: Path) -> int:
            try:
                return len(os.listdir(path))
            except OSError:
                return 0

        return SpoolStatus(
            waiting=len(names),
            waiting_bytes=sum(_size_of(n) for n in names),
            oldest_age=oldest,
            claimed=count(self.claimed),
            corrupt=count(self.corrupt),
            partial=count(self.tmp),
        )

    def purge(self) -> int:
        """Remove every file of the spool (waiting, claimed, partial, corrupt); return how many."""
        removed = 0
        for path in (self.ready, self.claimed, self.tmp, self.corrupt):
            try:
                entries = os.listdir(path)
            except OSError:
                continue
            for entry in entries:
                try:
                    (path / entry).unlink()
                except OSError:
                    continue
                removed += 1
        return removed
