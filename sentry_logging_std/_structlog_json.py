"""JsonRenderer: the structlog front door onto the JSON renderer.

``structlog.configure(processors=[..., JsonRenderer(service_name="orders")])``
writes the lines :class:`~sentry_logging_std.JsonFormatter` writes, with the
same fields, options and type-stability contract, from the same renderer.

It is the last processor of a chain: it receives the event dict and returns
the line. A few keys are read as the line's own members (``event`` is the
message, ``level``, ``timestamp`` and ``logger`` name the record,
``exc_info`` or a rendered ``exception`` the error, ``sentry_event_id`` the
Sentry event); every other key is placed as JsonFormatter places a record's
``extra``: declared fields with their type, the rest as string ``labels``.
Inside ``structlog.stdlib.ProcessorFormatter`` the ``logging.LogRecord`` it
passes (``_record``) supplies what the event dict does not: logger name,
level, time, origin, process and thread, and a foreign record's extras.

This module does not import structlog: an event dict is a plain mapping.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Optional

from sentry_logging_std._forksafe import after_fork_in_child
from sentry_logging_std._registry import FRONT_DOORS
from sentry_logging_std._render import (
    PickledAsArguments,
    build_renderer,
    check_defaults,
    current_trace,
    safe_str,
    value_text,
)
from sentry_logging_std._schema import RECORD_ATTRIBUTES
from sentry_logging_std._scrub import MARKER
from sentry_logging_std._structlog_keys import EVENT_ID_KEY, OWN_KEYS, exc_info_of

__all__ = ["JsonRenderer"]

#: Method names whose level has another name (as structlog's add_log_level names them).
_METHOD_LEVELS = {"warn": "warning", "exception": "error"}

#: Half a microsecond: a time read from text (microseconds at most) becomes a
#: float a little below its value; this keeps its millisecond the written one.
_HALF_MICROSECOND = 5e-7

_current_thread = threading.current_thread
_pid = os.getpid()


def _new_pid() -> None:
    global _pid
    _pid = os.getpid()


after_fork_in_child(_new_pid)


def _created(value: Any) -> Optional[float]:
    """Seconds since the epoch of a ``timestamp`` value, or None when it cannot be read.

    A number is taken as it is (TimeStamper without ``fmt``); a string as ISO
    8601 (``fmt="iso"``; a trailing Z is UTC, no offset is local time, as
    TimeStamper without ``utc`` writes it); a datetime likewise.
    """
    cls = value.__class__
    try:
        if cls is float or cls is int:
            return float(value)
        if cls is str:
            try:
                moment = datetime.fromisoformat(value)  # Z is UTC from Python 3.11
            except ValueError:
                text = value.strip()
                if text[-1:] in ("Z", "z"):
                    text = text[:-1] + "+00:00"
                moment = datetime.fromisoformat(text)
            return moment.timestamp() + _HALF_MICROSECOND
        if isinstance(value, datetime):
            return value.timestamp() + _HALF_MICROSECOND
    except Exception:
        return None
    return None


def _stack_text(exception: Any, stack_info: Any, limit: int) -> Optional[str]:
    """What ``error.stack_trace`` carries without an exception object.

    A rendered ``exception`` (format_exc_info's text; dict_tracebacks' list as
    JSON text) and a ``stack_info`` string (a foreign record's stack), joined.
    """
    parts = []
    if exception is not None:
        parts.append(exception if type(exception) is str else value_text(exception, limit))
    if stack_info and stack_info is not True:
        parts.append(stack_info if type(stack_info) is str else safe_str(stack_info))
    return "\n".join(parts) or None


class JsonRenderer(PickledAsArguments):
    """structlog's last processor: one ECS JSON line per event, one JSON type per key path.

    ``structlog.configure(processors=[structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    JsonRenderer(service_name="orders")])``.

    Args:
        service_name, service_environment, service_version: ``service.*``.
        hostname: ``host.hostname``; the machine's name when None.
        fields: declared fields, ``{"order_id": "long"}`` or
            ``"order_id:long,amount:double"``, types named as Elasticsearch
            names them; not one of the keys this renderer reads itself.
        max_length: longest string value, in characters; longer ones are cut
            with a marker (stack traces in the middle).
        defaults: values for keys an event dict does not carry.
        scrub_keys, scrub_patterns, scrub_defaults_off: this renderer's own
            scrubbing policy, as SentryHandler takes them. Without any of
            them, lines follow the policy the process's SentryHandler or
            SentrySink was configured with (else the defaults).
        scrub: False writes lines unscrubbed.

    Options are checked here, as :class:`JsonFormatter` checks them; a bad
    one raises TypeError or ValueError naming it. Rendering never raises and
    never changes the event dict.
    """

    def __init__(
        self,
        *,
        service_name: Optional[str] = None,
        service_environment: Optional[str] = None,
        service_version: Optional[str] = None,
        hostname: Optional[str] = None,
        fields: Any = None,
        max_length: Optional[int] = None,
        defaults: Optional[Mapping[str, Any]] = None,
        scrub: bool = True,
        scrub_keys: Any = None,
        scrub_patterns: Any = None,
        scrub_defaults_off: Any = None,
    ) -> None:
        self._keep_arguments(locals())
        self._renderer = build_renderer(
            service_name=service_name,
            service_environment=service_environment,
            service_version=service_version,
            hostname=hostname,
            fields=fields,
            max_length=max_length,
            skip=OWN_KEYS,
            scrub=scrub,
            scrub_keys=scrub_keys,
            scrub_patterns=scrub_patterns,
            scrub_defaults_off=scrub_defaults_off,
            policy_source=FRONT_DOORS,
        )
        for field in self._renderer.schema.declared:
            if field.name in OWN_KEYS:
                raise ValueError(
                    f"fields: {field.name!r} cannot be declared (JsonRenderer reads that key "
                    "itself)"
                )
        #: The declared fields (for ``es-template`` and tests), as JsonFormatter's.
        self.schema = self._renderer.schema
        self._defaults = check_defaults(defaults, OWN_KEYS, "a key JsonRenderer reads itself")
        # The last 27-character ISO timestamp read, up to its millisecond, and its time.
        self._millisecond: tuple[str, float] = ("", 0.0)

    def _read_time(self, stamp: Any) -> Optional[float]:
        """:func:`_created`, remembering the millisecond of an ISO text ending in Z."""
        created = _created(stamp)
        if created is not None and stamp.__class__ is str and len(stamp) == 27 and stamp[26] == "Z":
            self._millisecond = (stamp[:23], created)
        return created

    def __call__(self, logger: Any, method_name: str, event_dict: Mapping[str, Any]) -> str:
        """The event's JSON line (no newline); never raises, never changes *event_dict*."""
        renderer = self._renderer
        try:
            get = event_dict.get
            record = get("_record")
            stamp = get("timestamp")
            if stamp.__class__ is float:
                created: Any = stamp
            elif stamp is None:
                created = None
            elif (
                stamp.__class__ is str
                and len(stamp) == 27
                and stamp[26] == "Z"
                and stamp[:23] == self._millisecond[0]
            ):
                # TimeStamper(fmt="iso", utc=True) again within the millisecond
                # of the last one: @timestamp shows milliseconds, nothing finer.
                created = self._millisecond[1]
            else:
                created = self._read_time(stamp)
            level = get("level")
            name = get("logger")
            message = get("event", "")
            if record is None or not isinstance(record, logging.LogRecord):
                # The common case: an event dict straight from a bound logger.
                if created is None:
                    created = time.time()
                if level is None:
                    level = _METHOD_LEVELS.get(method_name, method_name)
                if name is None:
                    name = getattr(logger, "name", None)
                    if name.__class__ is not str:
                        name = ""
                file_name = line_number = function = None
                pid: Any = _pid
                thread_name: Any = _current_thread().name
                record = None
                pairs: Iterable[tuple[Any, Any]] = event_dict.items()
            else:
                # Inside ProcessorFormatter: the record names what the dict does not.
                if created is None:
                    created = record.created
                if level is None:
                    level = record.levelname
                if name is None:
                    name = record.name
                file_name = record.filename
                line_number = record.lineno
                function = record.funcName
                pid = record.process
                thread_name = record.threadName
                pairs = event_dict.items()
                if get("_from_structlog") is not True:
                    # A foreign record's extras, as JsonFormatter writes them
                    # (unless a processor copied them into the dict already).
                    foreign = [
                        (key, value)
                        for key, value in record.__dict__.items()
                        if key not in RECORD_ATTRIBUTES and key not in event_dict
                    ]
                    if foreign:
                        pairs = [*pairs, *foreign]
            if self._defaults is not None:
                missing = [(k, v) for k, v in self._defaults.items() if k not in event_dict]
                if missing:
                    pairs = [*pairs, *missing]
            exc_info = get("exc_info")
            exc_info = None if not exc_info else exc_info_of(exc_info)
            exception = get("exception")
            stack_info = get("stack_info")
            stack = (
                None
                if exception is None and not stack_info
                else _stack_text(
                    None if exc_info is not None else exception, stack_info, renderer.max_length
                )
            )
            event_id = get(EVENT_ID_KEY)
            line = renderer.line(
                created,
                level,
                name,
                message,
                file_name,
                line_number,
                function,
                pid,
                thread_name,
                exc_info,
                stack,
                pairs,
                event_id,
                current_trace(),
                record,
            )
            if renderer.scrub and MARKER in line:
                # Something was scrubbed: the same secret may sit elsewhere in the line.
                line = renderer.hide_repeats(line, message, pairs, exc_info, stack)
        except Exception as exc:
            try:
                get = event_dict.get
                level = get("level") or method_name
                message = get("event")
            except Exception:
                level, message = method_name, safe_str(event_dict)
            return renderer.fallback_line(None, level, "", message, exc)
        return line
