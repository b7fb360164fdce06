"""Options shared by every front door, checked once at configuration time.

Nothing here runs per record. A bad option is a ``TypeError`` or ``ValueError``
that names the option, raised while ``dictConfig`` (or the caller) builds the
handler — never later, at log time.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit

from sentry_logging_std._bound import DEFAULT_LIMITS, Limits, bounding_before_send
from sentry_logging_std._scrub import (
    ScrubPolicy,
    scrubbing_before_send,
    scrubbing_before_send_transaction,
)
from sentry_logging_std._tags import sanitize_tag_key, sanitize_tag_value

__all__ = ["Dsn", "Options", "parse_dsn", "parse_options", "scrub_policy"]

TRANSPORT_MODES = ("background", "sync")
CAPTURE_MODES = ("background", "sync")

#: Every option a front door accepts, with its default. The README's option
#: table is checked against this mapping by the test suite.
DEFAULTS: Mapping[str, Any] = {
    "dsn": None,
    "environment": None,
    "release": None,
    "server_name": None,
    "sample_rate": 1.0,
    "traces_sample_rate": None,
    "debug": False,
    "attach_stacktrace": True,
    "before_send": None,
    "send_default_pii": False,
    "integrations": (),
    "max_breadcrumbs": 100,
    "shutdown_timeout": 2.0,
    "capture": "background",
    "transport": "background",
    "transport_timeout": 5.0,
    "queue_size": 1000,
    "spool_dir": None,
    "spool_max_bytes": 50 * 1024 * 1024,
    "spool_max_files": 1000,
    "flood_limit": 20,
    "flood_window": 60.0,
    "tags": None,
    "tag_keys": (),
    "scrub_keys": (),
    "scrub_patterns": (),
    "scrub_defaults_off": (),
    "event_level": logging.ERROR,
    "breadcrumb_level": logging.INFO,
    "limits": None,
}

_ENV_FALLBACKS = {
    "dsn": "SENTRY_DSN",
    "environment": "SENTRY_ENVIRONMENT",
    "release": "SENTRY_RELEASE",
}

#: The scheme of the stand-in DSN of a spool without a server (see ``_spool_only_dsn``).
SPOOL_ONLY_SCHEME = "spool"

_PROJECT_ID = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Dsn:
    """A parsed Sentry DSN: where envelopes go and with which key."""

    scheme: str
    public_key: str
    host: str
    port: Optional[int]
    path_prefix: str
    project_id: str
    raw: str = field(repr=False)

    @property
    def spool_only(self) -> bool:
        """True for the stand-in of a configuration with a spool and no server."""
        return self.scheme == SPOOL_ONLY_SCHEME

    @property
    def netloc(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def envelope_path(self) -> str:
        return f"{self.path_prefix}/api/{self.project_id}/envelope/"

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.envelope_path}"

    def auth_header(self, client: str) -> str:
        return f"Sentry sentry_key={self.public_key}, sentry_version=7, sentry_client={client}"


def parse_dsn(value: str, option: str = "dsn") -> Dsn:
    """Parse *value* as a Sentry DSN, or raise ``ValueError`` naming *option*."""
    if not isinstance(value, str):
        raise TypeError(f"{option}: expected a string DSN, got {type(value).__name__}")
    hint = "expected https://<key>@<host>/<project id>"
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{option}: malformed DSN ({exc}); {hint}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{option}: malformed DSN, scheme must be http or https; {hint}")
    if not parts.username:
        raise ValueError(f"{option}: malformed DSN, the public key is missing; {hint}")
    if not parts.hostname:
        raise ValueError(f"{option}: malformed DSN, the host is missing; {hint}")
    path = parts.path.rstrip("/")
    prefix, _, project_id = path.rpartition("/")
    if not _PROJECT_ID.match(project_id):
        raise ValueError(f"{option}: malformed DSN, the project id is missing; {hint}")
    return Dsn(
        scheme=parts.scheme,
        public_key=parts.username,
        host=parts.hostname,
        port=port,
        path_prefix=prefix,
        project_id=project_id,
        raw=value.strip(),
    )


@dataclass(frozen=True)
class Options:
    """Validated options, shared by the client initialiser and the capture code."""

    dsn: Optional[Dsn]
    environment: Optional[str]
    release: Optional[str]
    server_name: Optional[str]
    sample_rate: float
    traces_sample_rate: Optional[float]
    debug: bool
    attach_stacktrace: bool
    before_send: Optional[Callable[..., Any]]
    send_default_pii: bool
    integrations: tuple[Any, ...]
    max_breadcrumbs: int
    shutdown_timeout: float
    capture: str
    transport: Union[str, Any]
    transport_timeout: float
    queue_size: int
    spool_dir: Optional[str]
    spool_max_bytes: int
    spool_max_files: int
    flood_limit: int
    flood_window: float
    tags: Mapping[str, str]
    tag_keys: frozenset[str]
    scrub: ScrubPolicy
    event_level: int
    breadcrumb_level: int
    limits: Limits

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``sentry_sdk.init`` built from these options."""
        from sentry_logging_std._transport import make_transport

        kwargs: dict[str, Any] = {
            "dsn": self.dsn.raw if self.dsn is not None and not self.dsn.spool_only else None,
            "environment": self.environment,
            "release": self.release,
            "sample_rate": self.sample_rate,
            "traces_sample_rate": self.traces_sample_rate,
            "debug": self.debug,
            "attach_stacktrace": self.attach_stacktrace,
            "max_breadcrumbs": self.max_breadcrumbs,
            "shutdown_timeout": self.shutdown_timeout,
            "integrations": self._integrations(),
        }
        if self.server_name is not None:
            kwargs["server_name"] = self.server_name
        kwargs["before_send"] = self.event_before_send()
        kwargs["before_send_transaction"] = scrubbing_before_send_transaction(self.scrub)
        if self.send_default_pii:
            # Off is sentry-sdk's default; newer releases warn whenever the
            # option is passed at all (see ClientInitializer.ensure).
            kwargs["send_default_pii"] = True
        if self.dsn is not None:
            kwargs["transport"] = make_transport(self)
        return kwargs

    def event_before_send(self) -> Callable[[Any, Any], Any]:
        """What every event goes through last: scrubbing, then the user's
        ``before_send``, then the last cut to size (whatever the steps before it
        added is bounded too)."""
        return bounding_before_send(
            self.limits, scrubbing_before_send(self.scrub, self.before_send)
        )

    def _integrations(self) -> list[Any]:
        """The user's integrations, plus silenced ones that would duplicate the front doors.

        sentry-sdk enables its own logging and loguru integrations by default;
        left on, every error record would be sent twice (once by them, once by
        SentryHandler or SentrySink) and every breadcrumb recorded twice. An
        integration the user configured explicitly is kept as given; the
        duplicate events it makes are dropped by the event processors in
        ``_client`` and ``_loguru``.
        """
        from sentry_sdk.integrations.logging import LoggingIntegration

        from sentry_logging_std._loguru_compat import quiet_loguru_integration

        result = list(self.integrations)
        if not any(isinstance(i, LoggingIntegration) for i in result):
            result.append(LoggingIntegration(level=None, event_level=None))
        if not any(getattr(i, "identifier", None) == "loguru" for i in result):
            quiet = quiet_loguru_integration()
            if quiet is not None:
                result.append(quiet)
        return result


def parse_options(
    kwargs: Mapping[str, Any],
    owner: str,
    level_names: Optional[Callable[[str], Optional[int]]] = None,
) -> Options:
    """Check *kwargs* against the known options and return them validated.

    *level_names* resolves level names the stdlib does not know (loguru's).
    """
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(DEFAULTS), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{owner}: unknown option {name!r}{suggestion}")
    raw = {**DEFAULTS, **kwargs}
    for name, variable in _ENV_FALLBACKS.items():
        if raw[name] is None:
            raw[name] = os.environ.get(variable) or None

    dsn = raw["dsn"]
    parsed_dsn = parse_dsn(dsn) if dsn else None
    spool_dir = _spool_dir(raw["spool_dir"])
    transport = _transport(raw["transport"])
    if spool_dir is not None and not isinstance(transport, str):
        raise ValueError(
            "spool_dir: works with transport 'background' or 'sync', not with a transport "
            "of your own"
        )
    if parsed_dsn is None and spool_dir is not None:
        parsed_dsn = _spool_only_dsn(spool_dir)
    tags = _tags(raw["tags"])
    return Options(
        dsn=parsed_dsn,
        environment=_optional_str(raw["environment"], "environment"),
        release=_optional_str(raw["release"], "release"),
        server_name=_optional_str(raw["server_name"], "server_name"),
        sample_rate=_rate(raw["sample_rate"], "sample_rate"),
        traces_sample_rate=(
            None
            if raw["traces_sample_rate"] is None
            else _rate(raw["traces_sample_rate"], "traces_sample_rate")
        ),
        debug=_bool(raw["debug"], "debug"),
        attach_stacktrace=_bool(raw["attach_stacktrace"], "attach_stacktrace"),
        before_send=_callable(raw["before_send"], "before_send"),
        send_default_pii=_bool(raw["send_default_pii"], "send_default_pii"),
        integrations=_integrations(raw["integrations"]),
        max_breadcrumbs=_int(raw["max_breadcrumbs"], "max_breadcrumbs", minimum=0),
        shutdown_timeout=_positive(raw["shutdown_timeout"], "shutdown_timeout"),
        capture=_choice(raw["capture"], "capture", CAPTURE_MODES),
        transport=transport,
        transport_timeout=_positive(raw["transport_timeout"], "transport_timeout"),
        queue_size=_int(raw["queue_size"], "queue_size", minimum=1),
        spool_dir=spool_dir,
        spool_max_bytes=_int(raw["spool_max_bytes"], "spool_max_bytes", minimum=1024),
        spool_max_files=_int(raw["spool_max_files"], "spool_max_files", minimum=1),
        flood_limit=_int(raw["flood_limit"], "flood_limit", minimum=0),
        flood_window=_positive(raw["flood_window"], "flood_window"),
        tags=tags,
        tag_keys=frozenset(_str_list(raw["tag_keys"], "tag_keys")),
        scrub=scrub_policy(
            raw["scrub_keys"],
            raw["scrub_patterns"],
            raw["scrub_defaults_off"],
            literals=[parsed_dsn.public_key] if parsed_dsn and parsed_dsn.public_key else [],
        ),
        event_level=_level(raw["event_level"], "event_level", level_names),
        breadcrumb_level=_level(raw["breadcrumb_level"], "breadcrumb_level", level_names),
        limits=_limits(raw["limits"]),
    )


def _spool_dir(value: Any) -> Optional[str]:
    """The spool directory, created and proven writable now, or None."""
    from sentry_logging_std._spool import Spool

    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"spool_dir: expected a directory path, got {type(value).__name__}")
    path = os.path.abspath(os.fspath(value))
    try:
        Spool(path).create()
    except OSError as exc:
        raise ValueError(f"spool_dir: cannot use {path!r} as a spool: {exc}") from None
    return path


def _spool_only_dsn(spool_dir: str) -> Dsn:
    """A stand-in DSN for a spool without a server: events are built and kept on disk.

    The client is started as for a DSN; its transport writes to the spool and
    sends nothing. ``python -m sentry_logging_std spool send`` (or a handler
    with a DSN and the same ``spool_dir``) delivers them later.
    """
    return Dsn(
        scheme=SPOOL_ONLY_SCHEME,
        public_key="",
        host=spool_dir,
        port=None,
        path_prefix="",
        project_id="",
        raw="",
    )


def _optional_str(value: Any, option: str) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{option}: expected a string, got {type(value).__name__}")


def _bool(value: Any, option: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise TypeError(f"{option}: expected true or false, got {value!r}")


def _number(value: Any, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{option}: expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{option}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{option}: expected a finite number, got {value!r}")
    return number


def _rate(value: Any, option: str) -> float:
    rate = _number(value, option)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{option}: must be between 0 and 1, got {value!r}")
    return rate


def _positive(value: Any, option: str) -> float:
    number = _number(value, option)
    if number <= 0:
        raise ValueError(f"{option}: must be greater than 0, got {value!r}")
    return number


def _int(value: Any, option: str, minimum: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{option}: must be at least {minimum}, got {value!r}")
    return value


def _level(
    value: Any, option: str, level_names: Optional[Callable[[str], Optional[int]]] = None
) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{option}: expected a level name or number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        level = logging.getLevelName(text.upper())
        if isinstance(level, int):
            return level
        if level_names is not None:
            named = level_names(text)
            if named is not None:
                return named
        raise ValueError(f"{option}: unknown level {value!r}")
    raise TypeError(f"{option}: expected a level name or number, got {type(value).__name__}")


def _choice(value: Any, option: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{option}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def scrub_policy(
    scrub_keys: Any, scrub_patterns: Any, scrub_defaults_off: Any, literals: Iterable[str] = ()
) -> ScrubPolicy:
    """The scrubbing policy of these option values (every front door, JSON ones included).

    Raises TypeError or ValueError naming the option.
    """
    return ScrubPolicy(
        keys=_str_list(scrub_keys, "scrub_keys"),
        patterns=_str_list(scrub_patterns, "scrub_patterns"),
        defaults_off=_str_list(scrub_defaults_off, "scrub_defaults_off"),
        literals=list(literals),
    )


def _str_list(value: Any, option: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise TypeError(f"{option}: expected a list of names, got {type(value).__name__}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{option}: expected names (strings), got {item!r}")
    return items


#: The limits the ``limits`` option can change, with the least each may be.
_LIMIT_MINIMUMS = {"string_length": 16, "items": 1, "event_bytes": 1024}


def _limits(value: Any) -> Limits:
    """The ``limits`` option: some of :class:`Limits`' fields, the others as by default."""
    if value is None:
        return DEFAULT_LIMITS
    if not isinstance(value, Mapping):
        raise TypeError(
            f"limits: expected a mapping such as {{'event_bytes': 200000}}, got {value!r}"
        )
    for name in value:
        if name not in _LIMIT_MINIMUMS:
            close = difflib.get_close_matches(str(name), list(_LIMIT_MINIMUMS), n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(
                f"limits: unknown limit {name!r}{suggestion}; "
                f"the limits are {', '.join(_LIMIT_MINIMUMS)}"
            )
    return dataclasses.replace(
        DEFAULT_LIMITS,
        **{
            name: _int(number, f"limits.{name}", minimum=_LIMIT_MINIMUMS[name])
            for name, number in value.items()
        },
    )


def _tags(value: Any) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"tags: expected a mapping of tag names to values, got {value!r}")
    tags: dict[str, str] = {}
    for key, tag_value in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"tags: tag names must be non-empty strings, got {key!r}")
        tags[sanitize_tag_key(key)] = sanitize_tag_value(tag_value)
    return tags


def resolve_reference(value: str, option: str) -> Any:
    """Import ``ext://pkg.mod.attr``, ``pkg.mod:attr`` or ``pkg.mod.attr``."""
    text = value[len("ext://") :] if value.startswith("ext://") else value
    module_name, sep, attribute = text.partition(":")
    if not sep:
        module_name, _, attribute = text.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"{option}: {value!r} is not an importable name (module.attribute)")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{option}: cannot import {value!r}: {exc}") from None
    return target


def _callable(value: Any, option: str) -> Optional[Callable[..., Any]]:
    if value is None:
        return None
    if isinstance(value, str):
        value = resolve_reference(value, option)
    if not callable(value):
        raise TypeError(f"{option}: expected a callable, got {value!r}")
    return value  # type: ignore[no-any-return]


def _integrations(value: Any) -> tuple[Any, ...]:
    from sentry_sdk.integrations import Integration

    if value is None:
        return ()
    if isinstance(value, (str, Integration)) or not isinstance(value, Iterable):
        value = [value]
    result = []
    for item in value:
        resolved = resolve_reference(item, "integrations") if isinstance(item, str) else item
        if isinstance(resolved, type) and issubclass(resolved, Integration):
            resolved = resolved()
        if not isinstance(resolved, Integration):
            raise TypeError(f"integrations: expected sentry-sdk integrations, got {item!r}")
        result.append(resolved)
    return tuple(result)


def _transport(value: Any) -> Union[str, Any]:
    from sentry_sdk.transport import Transport

    if isinstance(value, str):
        if value in TRANSPORT_MODES:
            return value
        if "." in value:
            value = resolve_reference(value, "transport")
        else:
            raise ValueError(
                f"transport: expected one of {', '.join(TRANSPORT_MODES)}, got {value!r}"
            )
    if isinstance(value, Transport) or (isinstance(value, type) and issubclass(value, Transport)):
        return value
    raise TypeError(
        f"transport: expected {' or '.join(map(repr, TRANSPORT_MODES))} or a "
        f"sentry_sdk.transport.Transport, got {value!r}"
    )
