"""JsonFormatter: the stdlib ``logging`` front door onto the JSON renderer."""

from __future__ import annotations

import itertools
import logging
import shlex
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from sentry_logging_std._registry import FRONT_DOORS
from sentry_logging_std._render import (
    PickledAsArguments,
    build_renderer,
    check_defaults,
    current_trace,
    optional_str,
    safe_str,
)
from sentry_logging_std._schema import RECORD_ATTRIBUTES
from sentry_logging_std._scrub import MARKER

__all__ = ["JsonFormatter"]

# LogRecord.__init__ sets the standard attributes first and in one order;
# ``extra`` (and whatever filters add) comes after them. Skipping straight
# past the last standard attribute, after checking it is where it should be,
# avoids testing every standard attribute of every record.
_LAYOUT = list(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
_LAST_INDEX = len(_LAYOUT) - 1
_LAST_NAME = _LAYOUT[-1]
_COUNT = len(_LAYOUT)


# Options that may also be written in the ``fmt`` string, for configurations
# that can pass nothing else (fileConfig, and dictConfig with "class").
_FMT_OPTIONS = (
    "service_name",
    "service_environment",
    "service_version",
    "hostname",
    "fields",
    "max_length",
    "scrub_keys",
    "scrub_patterns",
    "scrub_defaults_off",
)


def _options_from_fmt(fmt: object) -> dict[str, str]:
    if fmt is None:
        return {}
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a string of 'option=value' pairs, got {type(fmt).__name__}")
    try:
        tokens = shlex.split(fmt)
    except ValueError as exc:
        raise ValueError(f"fmt: {exc}") from None
    options: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep or name not in _FMT_OPTIONS:
            raise ValueError(
                f"fmt: {token!r} is not an option; JsonFormatter's layout is fixed (ECS), and fmt "
                f"may only carry 'option=value' pairs for {', '.join(_FMT_OPTIONS)}"
            )
        if name in options:
            raise ValueError(f"fmt: {name} is given twice")
        options[name] = value
    return options


def _event_id_of(record: logging.LogRecord) -> Optional[str]:
    """The Sentry event id of *record* (``_link.sentry_event_id``, imported on first use:
    a program with no Sentry front door never loads sentry-sdk)."""
    global _event_id_of
    from sentry_logging_std._link import sentry_event_id

    _event_id_of = sentry_event_id  # every later call goes straight there
    return sentry_event_id(record)


class JsonFormatter(logging.Formatter, PickledAsArguments):
    """One ECS JSON object per record, with one JSON type per key path, always.

    Args:
        fmt: ignored as a layout (the layout is fixed); may carry options as
            ``"service_name=orders fields=order_id:long,amount:double"`` for
            ``fileConfig`` and dictConfig's ``"class"``, which pass nothing else.
        datefmt, style, validate: accepted for compatibility; ``@timestamp``
            is always ISO 8601 UTC with milliseconds and Z.
        defaults: values for extras a record does not carry.
        service_name, service_environment, service_version: ``service.*``.
        hostname: ``host.hostname``; the machine's name when None.
        fields: declared fields, ``{"order_id": "long"}`` or
            ``"order_id:long,amount:double"``, types named as Elasticsearch names them.
        max_length: longest string value, in characters; longer ones are cut
            with a marker (stack traces in the middle).
        scrub_keys, scrub_patterns, scrub_defaults_off: this formatter's own
            scrubbing policy, as SentryHandler takes them. Without any of
            them, lines follow the policy the process's SentryHandler or
            SentrySink was configured with (else the defaults).
        scrub: False writes lines unscrubbed.
    """

    def __init__(
        self,
        fmt: Optional[str] = None,
        datefmt: Optional[str] = None,
        style: str = "%",
        validate: bool = True,
        *,
        defaults: Optional[Mapping[str, Any]] = None,
        service_name: Optional[str] = None,
        service_environment: Optional[str] = None,
        service_version: Optional[str] = None,
        hostname: Optional[str] = None,
        fields: Any = None,
        max_length: Optional[int] = None,
        scrub: bool = True,
        scrub_keys: Any = None,
        scrub_patterns: Any = None,
        scrub_defaults_off: Any = None,
    ) -> None:
        self._keep_arguments(locals())
        super().__init__()
        if style not in ("%", "{", "$"):
            raise ValueError(f"style must be one of '%', '{{', '$', got {style!r}")
        self.datefmt = optional_str("datefmt", datefmt)
        given: dict[str, Any] = {
            "service_name": service_name,
            "service_environment": service_environment,
            "service_version": service_version,
            "hostname": hostname,
            "fields": fields,
            "max_length": max_length,
            "scrub_keys": scrub_keys,
            "scrub_patterns": scrub_patterns,
            "scrub_defaults_off": scrub_defaults_off,
        }
        for name, value in _options_from_fmt(fmt).items():
            if given[name] is not None:
                raise ValueError(f"{name} is given both in fmt and as an argument")
            given[name] = value
        overrides_exceptions = type(self).formatException is not logging.Formatter.formatException
        self._renderer = build_renderer(
            **given,
            exception_formatter=self.formatException if overrides_exceptions else None,
            skip=RECORD_ATTRIBUTES,
            scrub=scrub,
            policy_source=FRONT_DOORS,
        )
        self.schema = self._renderer.schema
        self._defaults = check_defaults(defaults, RECORD_ATTRIBUTES, "a LogRecord attribute")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line; never raises, never changes the record."""
        try:
            msg = record.msg
            args = record.args
            try:
                if msg.__class__ is str and record.__class__ is logging.LogRecord:
                    # What LogRecord.getMessage does, without the call.
                    message = msg % args if args else msg
                else:
                    message = record.getMessage()
            except Exception as exc:
                message = (
                    f"{safe_str(msg)} (not formatted with args {safe_str(args)}: "
                    f"{type(exc).__name__}: {safe_str(exc)})"
                )
            event_id = None
            try:
                # Records below every SentryHandler's event level never become
                # events: the comparison spares them the call.
                # A Sentry front door exists (sentry-sdk is loaded) for any
                # record at or above it.
                if record.levelno >= FRONT_DOORS.lowest_event_level:
                    event_id = _event_id_of(record)
            except Exception:
                event_id = None
            trace = current_trace()
            attributes = record.__dict__
            extra: Optional[Iterable[tuple[str, Any]]] = None
            if len(attributes) > _COUNT:
                extra = itertools.islice(attributes.items(), _LAST_INDEX, None)
                if next(extra)[0] != _LAST_NAME:  # not the usual layout: all of them
                    extra = attributes.items()
            if self._defaults is not None:
                missing = [(k, v) for k, v in self._defaults.items() if k not in attributes]
                extra = itertools.chain(extra or (), missing)
            line = self._renderer.line(
                record.created,
                record.levelname,
                record.name,
                message,
                record.filename,
                record.lineno,
                record.funcName,
                record.process,
                record.threadName,
                record.exc_info,
                record.stack_info,
                extra,
                event_id,
                trace,
                record,
            )
            if self._renderer.scrub and MARKER in line:
                # Something was scrubbed: the same secret may sit elsewhere in the line.
                line = self._renderer.hide_repeats(
                    line, message, attributes.items(), record.exc_info, record.stack_info
                )
        except Exception as exc:
            attrs = getattr(record, "__dict__", {})
            return self._renderer.fallback_line(
                attrs.get("created"),
                attrs.get("levelname"),
                attrs.get("name"),
                attrs.get("msg"),
                exc,
            )
        return line
