"""A throw-away Bugsink server for the end-to-end tests.

Bugsink (PyPI ``bugsink``) is a self-hosted error tracker that speaks the Sentry protocol, stores
events exactly as the SDK sent them, groups them into issues and runs on SQLite. The tests start one
on 127.0.0.1 and read back through its REST API what the SDK sent.

Bugsink lives in its OWN virtualenv, never in the project's: it installs top-level packages named
``api``, ``events``, ``issues``, ``tags``, ``projects``, ... and Django (which would also switch on
sentry-sdk's Django integration). The venv is ``$BUGSINK_VENV`` or ``<repo>/.cache/bugsink-venv``;
it is built on first use (needs Python >= 3.11, found even when the tests run on an older one).

The REST API of Bugsink 2.6.2, under ``/api/canonical/0/`` with ``Authorization: Bearer <token>``:

* ``GET issues/?project=<id>`` gives ``{"next": url|None, "previous": url|None, "results": [...]}``
  (cursor pagination, 250 a page; ordered by ``digest_order``). An issue has:
  ``id`` (UUID string), ``friendly_id`` (e.g. ``"E2E-1"``), ``project`` (int), ``digest_order``
  (1, 2, ... per project), ``first_seen``, ``last_seen`` (ISO 8601 UTC strings),
  ``digested_event_count``, ``stored_event_count``, ``calculated_type``, ``calculated_value`` (the
  title: for a message event ``"Log Message"`` and the message; for an exception its type and
  value), ``transaction``, ``is_resolved``, ``is_resolved_unconditionally``,
  ``is_resolved_by_next_release``, ``fixed_at`` (list), ``events_at`` (list of releases),
  ``is_muted``, ``unmute_after``, ``unmute_on_volume_based_conditions`` (list).
* ``GET events/?issue=<issue id>`` (required filter: there is no per-project event list) gives the
  same paginated shape, newest first unless ``order=asc``. An event there has: ``id`` (Bugsink's
  own UUID), ``ingested_at``, ``digested_at``, ``issue`` (the issue's UUID: this is how events are
  keyed to issues), ``grouping`` (int), ``event_id`` (the SDK's event id, as a dashed UUID),
  ``project`` (int), ``timestamp``, ``digest_order``. The list leaves out the payload.
* ``GET events/lookup/?project=<id>&event_id=<uuid>`` gives one event: the fields above plus
  ``data`` (the payload as the SDK sent it, already a JSON object) and ``stacktrace_md``. 404 while
  there is no such event (with an eager SNAPPEA it is stored before the ingest request returns).
* ``GET projects/<id>/`` gives ``id``, ``team``, ``name``, ``slug``, ``dsn``,
  ``digested_event_count``, ``stored_event_count``, ``alert_on_new_issue``,
  ``alert_on_regression``, ``alert_on_unmute``, ``visibility``, ``retention_max_event_count``,
  ``grouping_mechanism``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

BUGSINK_REQUIREMENTS: tuple[str, ...] = ("bugsink==2.6.2", "gunicorn")
"""What goes into the Bugsink venv."""

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
API_PREFIX = "/api/canonical/0/"

_STAMP_NAME = "bugsink-e2e-requirements.txt"
_TEMPLATE_NAME = "bugsink-e2e-db-template"
_DATABASE_FILES = ("db.sqlite3", "snappea.sqlite3")
_PYTHON_CANDIDATES = ("python3.11", "python3.12", "python3.13")
_MIN_PYTHON = (3, 11)
_QUOTA = 1_000_000_000

# Run by `bugsink-manage shell -c`: makes what the tests need and prints it as one JSON line.
_SETUP_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from teams.models import Team, TeamMembership, TeamRole
from projects.models import Project, ProjectMembership, ProjectRole
from bsmain.models import AuthToken

user = get_user_model().objects.create_superuser(
    username="e2e", email="e2e@example.invalid", password=None)
team = Team.objects.create(name="e2e")
TeamMembership.objects.create(team=team, user=user, role=TeamRole.ADMIN, accepted=True)
project = Project.objects.create(team=team, name="e2e")
ProjectMembership.objects.create(project=project, user=user, role=ProjectRole.ADMIN, accepted=True)
token = AuthToken.create_full_access(description="e2e tests")
print(json.dumps({"project_id": project.id, "dsn": project.dsn, "token": token.token}))
"""


class BugsinkError(RuntimeError):
    """Building, starting or querying the test Bugsink failed."""


def _progress(message: str) -> None:
    print(f"[bugsink] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The virtualenv
# ---------------------------------------------------------------------------------------------


def venv_path() -> Path:
    """Where the Bugsink venv lives: ``$BUGSINK_VENV``, else ``<repo>/.cache/bugsink-venv``."""
    configured = os.environ.get("BUGSINK_VENV")
    if configured:
        return Path(configured).expanduser().absolute()
    return REPO_ROOT / ".cache" / "bugsink-venv"


def _python_version(executable: str) -> tuple[int, int] | None:
    """The (major, minor) of an interpreter, or None if it does not run (e.g. a bare pyenv shim)."""
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python() -> str:
    """A Python >= 3.11 for the venv: this one if new enough, else one on PATH or under pyenv."""
    if sys.version_info[:2] >= _MIN_PYTHON:
        return sys.executable
    candidates = [found for name in _PYTHON_CANDIDATES if (found := shutil.which(name))]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for name in _PYTHON_CANDIDATES:
        candidates.extend(str(p) for p in sorted(pyenv_root.glob(f"versions/*/bin/{name}")))
    for candidate in candidates:
        version = _python_version(candidate)
        if version is not None and version >= _MIN_PYTHON:
            return candidate
    raise BugsinkError(
        "Bugsink needs Python >= 3.11 and none was found (tried this interpreter, "
        f"{', '.join(_PYTHON_CANDIDATES)} on PATH and in {pyenv_root}/versions/*/bin)"
    )


def _venv_is_ready(venv: Path) -> bool:
    stamp = venv / _STAMP_NAME
    return (
        (venv / "bin" / "bugsink-manage").exists()
        and (venv / "bin" / "gunicorn").exists()
        and stamp.exists()
        and stamp.read_text() == "\n".join(BUGSINK_REQUIREMENTS)
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path``: two pytest processes never build at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_streaming(cmd: Sequence[str]) -> None:
    """Run a build step with all its output going to stderr; raise if it fails."""
    _progress("$ " + " ".join(cmd))
    # fd 2 itself, not sys.stderr: that may be a pytest capture object without a file descriptor.
    result = subprocess.run(list(cmd), stdin=subprocess.DEVNULL, stdout=2, stderr=2, check=False)
    if result.returncode != 0:
        raise BugsinkError(f"exit code {result.returncode} from: {' '.join(cmd)}")


def ensure_venv(venv: Path | None = None) -> Path:
    """Return the Bugsink venv, building it first if missing or incomplete (~30 s, once)."""
    venv = venv or venv_path()
    if _venv_is_ready(venv):
        return venv
    with _file_lock(venv.parent / f"{venv.name}.lock"):
        if _venv_is_ready(venv):  # another process built it while we waited for the lock
            return venv
        started = time.monotonic()
        python = venv / "bin" / "python"
        if _python_version(str(python)) is None or not (venv / "bin" / "pip").exists():
            base = find_python()
            _progress(f"building the Bugsink venv {venv} with {base} (once; takes a while)")
            _run_streaming([base, "-m", "venv", "--clear", str(venv)])
        else:
            _progress(f"completing the Bugsink venv {venv}")
        _run_streaming(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                *BUGSINK_REQUIREMENTS,
            ]
        )
        shutil.rmtree(venv / _TEMPLATE_NAME, ignore_errors=True)  # migrated by what was there
        (venv / _STAMP_NAME).write_text("\n".join(BUGSINK_REQUIREMENTS))
        _progress(f"Bugsink venv ready in {time.monotonic() - started:.1f} s")
    return venv


# ---------------------------------------------------------------------------------------------
# Configuring and starting a server
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _conf_overrides(state_dir: Path, port: int) -> str:
    return f"""

# ---- overrides for the sentry_logging_std end-to-end tests ----
DATABASES["default"]["NAME"] = {str(state_dir / "db.sqlite3")!r}
DATABASES["default"]["TEST"]["NAME"] = {str(state_dir / "test.sqlite3")!r}
DATABASES["snappea"]["NAME"] = {str(state_dir / "snappea.sqlite3")!r}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Digest each event inside its ingest request: no background worker, and once the SDK's flush
# returns the event can be read back.
SNAPPEA = {{"TASK_ALWAYS_EAGER": True}}
BUGSINK.update({{
    "BASE_URL": "http://{HOST}:{port}",
    "PHONEHOME": False,
    "MAX_EVENTS_PER_PROJECT_PER_5_MINUTES": {_QUOTA},
    "MAX_EVENTS_PER_PROJECT_PER_HOUR": {_QUOTA},
    "MAX_EVENTS_PER_5_MINUTES": {_QUOTA},
    "MAX_EVENTS_PER_HOUR": {_QUOTA},
}})
"""


def _server_env(state_dir: Path, venv: Path) -> dict[str, str]:
    """The environment of every Bugsink command: this one, less what could leak into Django."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SENTRY_", "DJANGO_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bugsink_conf",
            "PYTHONPATH": str(state_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


def _run_step(cmd: Sequence[str], cwd: Path, env: dict[str, str], log: IO[str]) -> str:
    """Run a set-up command in ``cwd``: stderr to the log, stdout logged too and returned."""
    shown = " ".join("<script>" if "\n" in arg else arg for arg in cmd)
    log.write(f"$ {shown}\n")
    log.flush()
    result = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        timeout=300,
        check=False,
    )
    log.write(result.stdout)
    log.flush()
    if result.returncode != 0:
        raise BugsinkError(f"exit code {result.returncode} from: {shown}")
    return result.stdout


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _write_conf(venv: Path, state_dir: Path, port: int, env: dict[str, str], log: IO[str]) -> None:
    """``bugsink-create-conf --template=local`` as ``state_dir/bugsink_conf.py``, + overrides."""
    conf_path = state_dir / "bugsink_conf.py"
    create_conf = str(venv / "bin" / "bugsink-create-conf")
    _run_step(
        [create_conf, "--template=local", f"--host={HOST}", f"--port={port}", "-o", str(conf_path)],
        state_dir,
        env,
        log,
    )
    with conf_path.open("a") as conf:
        conf.write(_conf_overrides(state_dir, port))


def migrated_template(venv: Path) -> Path:
    """A directory with both SQLite databases freshly migrated: made once per venv.

    Migrating takes 4-8 s; every server copies these files instead. They live inside the venv,
    so rebuilding the venv drops them.
    """
    template = venv / _TEMPLATE_NAME
    if all((template / name).exists() for name in _DATABASE_FILES):
        return template
    with _file_lock(venv.parent / f"{venv.name}.lock"):
        if all((template / name).exists() for name in _DATABASE_FILES):
            return template
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f"{_TEMPLATE_NAME}.", dir=venv))
        try:
            env = _server_env(work, venv)
            manage = str(venv / "bin" / "bugsink-manage")
            with (work / "migrate.log").open("w") as log:
                try:
                    _write_conf(venv, work, free_port(), env, log)
                    _run_step([manage, "migrate", "-v", "0"], work, env, log)
                    _run_step(
                        [manage, "migrate", "snappea", "--database=snappea", "-v", "0"],
                        work,
                        env,
                        log,
                    )
                except BugsinkError as exc:
                    tail = _log_tail(work / "migrate.log")
                    raise BugsinkError(f"{exc}; tail of its log:\n{tail}") from exc
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir()
            for name in _DATABASE_FILES:
                shutil.copyfile(work / name, template / f"{name}.tmp")
            for name in _DATABASE_FILES:
                os.replace(template / f"{name}.tmp", template / name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _progress(f"migrated the template databases in {time.monotonic() - started:.1f} s")
    return template


def _gunicorn_has_control_socket_flag(gunicorn: Path, env: dict[str, str]) -> bool:
    """gunicorn >= 26 makes a control socket under ~/.gunicorn unless told --no-control-socket."""
    result = subprocess.run(
        [str(gunicorn), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return "--no-control-socket" in result.stdout


def start_bugsink(state_dir: Path, *, ready_timeout: float = 60.0) -> Bugsink:
    """Start a fresh Bugsink in ``state_dir`` on a free port of 127.0.0.1; wait until it's ready.

    Builds the venv first if needed. Creates a superuser, a team, a project (with memberships)
    and a full-access API token. The output of the set-up commands and of the server goes to
    ``state_dir/bugsink.log``; if the start fails, the ``BugsinkError`` carries its tail.
    Call ``stop()`` when done.
    """
    venv = ensure_venv()
    template = migrated_template(venv)
    state_dir = state_dir.absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    env = _server_env(state_dir, venv)
    log_path = state_dir / "bugsink.log"
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    with log_path.open("a") as log:
        try:
            _write_conf(venv, state_dir, port, env, log)
            for name in _DATABASE_FILES:
                shutil.copyfile(template / name, state_dir / name)
            manage = str(venv / "bin" / "bugsink-manage")
            output = _run_step(
                [manage, "shell", "-v", "0", "-c", _SETUP_SCRIPT], state_dir, env, log
            )
            try:
                created = json.loads(output.strip().splitlines()[-1])
            except (ValueError, IndexError) as exc:
                raise BugsinkError(f"unparsable output of the set-up script: {output!r}") from exc

            gunicorn = venv / "bin" / "gunicorn"
            cmd = [str(gunicorn), "--bind", f"{HOST}:{port}", "--workers", "1"]
            if _gunicorn_has_control_socket_flag(gunicorn, env):
                cmd.append("--no-control-socket")
            cmd.append("bugsink.wsgi")
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            process = subprocess.Popen(
                cmd,
                cwd=state_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            server = Bugsink(
                url=f"http://{HOST}:{port}",
                dsn=str(created["dsn"]),
                project_id=int(created["project_id"]),
                token=str(created["token"]),
                process=process,
                state_dir=state_dir,
                log_path=log_path,
            )
            server.wait_ready(ready_timeout)
            # One API call: proves the token works, that the running server hands out the same
            # DSN, and warms the worker up (its first API request loads Django REST framework).
            served_dsn = server.api_get(f"projects/{server.project_id}/")["dsn"]
            if served_dsn != server.dsn:
                raise BugsinkError(f"the API gives DSN {served_dsn!r}, not {server.dsn!r}")
        except BaseException as exc:
            if process is not None:
                _terminate(process)
            if isinstance(exc, Exception):
                tail = _log_tail(log_path)
                raise BugsinkError(
                    f"Bugsink did not start ({exc}); {log_path} ends:\n{tail}"
                ) from exc
            raise
    return server


def _terminate(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait (bounded), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


# ---------------------------------------------------------------------------------------------
# A running server
# ---------------------------------------------------------------------------------------------


class Bugsink:
    """A running Bugsink: where it is, the test project's DSNs, and readers of what it stored.

    The readers use the stdlib only (``urllib.request``) and the REST API described in this
    module's docstring.
    """

    def __init__(
        self,
        *,
        url: str,
        dsn: str,
        project_id: int,
        token: str,
        process: subprocess.Popen[bytes],
        state_dir: Path,
        log_path: Path,
    ) -> None:
        self.url = url
        """Base URL, ``http://127.0.0.1:<port>`` (no trailing slash)."""
        self.dsn = dsn
        """The test project's DSN, ``http://<public key>@127.0.0.1:<port>/<project id>``."""
        self.project_id = project_id
        self.token = token
        """A full-access API token, sent as ``Authorization: Bearer <token>``."""
        self.process = process
        """The gunicorn master."""
        self.state_dir = state_dir
        self.log_path = log_path

        parts = urllib.parse.urlsplit(dsn)
        netloc = urllib.parse.urlsplit(url).netloc
        if not parts.username or parts.netloc != f"{parts.username}@{netloc}":
            raise BugsinkError(f"the project's DSN {dsn!r} does not point at {netloc}")
        wrong_key = uuid.uuid4().hex
        while wrong_key == parts.username:
            wrong_key = uuid.uuid4().hex
        self.wrong_key_dsn = urllib.parse.urlunsplit(parts._replace(netloc=f"{wrong_key}@{netloc}"))
        """The same project with a public key Bugsink does not know: answered 403, nothing kept."""

    def __repr__(self) -> str:
        return f"Bugsink(url={self.url!r}, project_id={self.project_id})"

    # ---- lifecycle ----

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until ``GET /health/ready`` is 200; raise if the server exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BugsinkError(f"gunicorn exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # URLError, connection refused, timeout
                pass
            if time.monotonic() > deadline:
                raise BugsinkError(f"{self.url}/health/ready was not 200 within {timeout} s")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the gunicorn master, wait (bounded) for it to exit, else SIGKILL. Idempotent."""
        _terminate(self.process, timeout)

    # ---- REST API ----

    def api_get(self, path_or_url: str, params: dict[str, str | int] | None = None) -> Any:
        """GET a REST API path (relative to ``/api/canonical/0/``) or a full URL; return its JSON.

        Raises ``urllib.error.HTTPError`` for an error status.
        """
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
        else:
            url = f"{self.url}{API_PREFIX}{path_or_url.lstrip('/')}"
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def _paginated(self, path: str, params: dict[str, str | int]) -> list[dict[str, Any]]:
        """All ``results`` of a cursor-paginated list, following the ``next`` links."""
        items: list[dict[str, Any]] = []
        page = self.api_get(path, params)
        while True:
            items.extend(page["results"])
            next_url = page.get("next")
            if not next_url:
                return items
            page = self.api_get(str(next_url))

    def lookup(self, event_id: str) -> dict[str, Any] | None:
        """The stored event (with ``data``) for an SDK event id, or None while there is none."""
        params: dict[str, str | int] = {
            "project": self.project_id,
            "event_id": str(uuid.UUID(event_id)),
        }
        try:
            record = self.api_get("events/lookup/", params)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                exc.close()
                return None
            raise
        return cast("dict[str, Any]", record)

    def event(self, event_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The payload of an event as the SDK sent it (``data``), polling until it is stored.

        ``event_id`` may have dashes or not. Raises ``TimeoutError`` if it is not there in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            record = self.lookup(event_id)
            if record is not None:
                data = record["data"]
                return cast("dict[str, Any]", json.loads(data) if isinstance(data, str) else data)
            if time.monotonic() > deadline:
                raise TimeoutError(f"event {event_id} not stored within {timeout} s")
            time.sleep(0.05)

    def issues(self) -> list[dict[str, Any]]:
        """All issues of the test project, oldest first (fields: see the module docstring)."""
        return self._paginated("issues/", {"project": self.project_id, "order": "asc"})

    def events(self, issue_id: str) -> list[dict[str, Any]]:
        """All events of an issue (its ``id`` or ``friendly_id``), oldest first, WITHOUT payload."""
        return self._paginated("events/", {"issue": issue_id, "order": "asc"})

    def event_count(self) -> int:
        """How many events of the test project are stored, counted over its issues' events."""
        return sum(len(self.events(str(issue["id"]))) for issue in self.issues())
