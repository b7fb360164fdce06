"""LoguruJsonFormat: the loguru front door onto the JSON renderer.

``logger.add(sys.stdout, format=LoguruJsonFormat(service_name="orders"))``
writes the lines :class:`~sentry_logging_std.JsonFormatter` writes, with the
same fields, options and type-stability contract, from the same renderer.

loguru calls a callable ``format`` with the record on the thread that
logged, also with ``enqueue=True``, so the trace ids and the Sentry event id
are those of the log call. It then uses the returned string as a format
template: the line is returned with ``{``/``}`` doubled, ``<`` written as
the JSON escape ``\\u003c`` (so loguru's colour markup finds no tag in it),
and a newline (loguru adds ``{exception}`` only to string formats; the
traceback is in ``error.stack_trace``).

This module does not import loguru: a record is a plain mapping.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Optional

from sentry_logging_std._registry import FRONT_DOORS
from sentry_logging_std._render import (
    PickledAsArguments,
    build_renderer,
    check_defaults,
    current_trace,
)
from sentry_logging_std._scrub import MARKER

__all__ = ["LoguruJsonFormat"]

#: SentrySink's module: a SentrySink exists only once it has been imported.
_SINK_MODULE = "sentry_logging_std._loguru"


def _escape(line: str) -> str:
    """*line* as a loguru format template whose output is *line* and a newline."""
    return line.replace("{", "{{").replace("}", "}}").replace("<", "\\u003c") + "\n"


class LoguruJsonFormat(PickledAsArguments):
    """A loguru ``format``: one ECS JSON line per record, one JSON type per key path.

    ``logger.add(sys.stdout, format=LoguruJsonFormat(service_name="orders"))``.

    Args:
        service_name, service_environment, service_version: ``service.*``.
        hostname: ``host.hostname``; the machine's name when None.
        fields: declared fields, ``{"order_id": "long"}`` or
            ``"order_id:long,amount:double"``, types named as Elasticsearch names them.
        max_length: longest string value, in characters; longer ones are cut
            with a marker (stack traces in the middle).
        defaults: values for ``extra`` keys (``bind``/``contextualize``) a
            record does not carry.
        scrub_keys, scrub_patterns, scrub_defaults_off: this format's own
            scrubbing policy, as SentrySink takes them. Without any of them,
            lines follow the policy the process's SentrySink or SentryHandler
            was configured with (else the defaults).
        scrub: False writes lines unscrubbed.

    Options are checked here, as :class:`JsonFormatter` checks them; a bad
    one raises TypeError or ValueError naming it.
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
            scrub=scrub,
            scrub_keys=scrub_keys,
            scrub_patterns=scrub_patterns,
            scrub_defaults_off=scrub_defaults_off,
            policy_source=FRONT_DOORS,
        )
        #: The declared fields (for ``es-template`` and tests), as JsonFormatter's.
        self.schema = self._renderer.schema
        self._defaults = check_defaults(defaults)

    def __call__(self, record: Mapping[str, Any]) -> str:
        """The record's JSON line as a loguru template; never raises, never changes the record."""
        try:
            return _escape(self.line(record))
        except Exception:  # pragma: no cover - line() does not raise; the escape cannot
            return '{{"message":"sentry-logging-std: this record could not be formatted"}}\n'

    def line(self, record: Mapping[str, Any]) -> str:
        """The record's JSON line itself (no newline, braces as they are)."""
        try:
            level = record["level"]
            event_id = None
            try:
                if level.no >= FRONT_DOORS.lowest_event_level:
                    sinks = sys.modules.get(_SINK_MODULE)
                    if sinks is not None:
                        event_id = sinks.loguru_event_id(record)
            except Exception:
                event_id = None
            trace = current_trace()
            exception = record["exception"]
            exc_info = None
            if exception is not None:
                exc_type, exc_value, exc_tb = exception
                if exc_value is not None:
                    exc_info = (exc_type, exc_value, exc_tb)
            extra = record["extra"]
            if self._defaults is not None:
                missing = {k: v for k, v in self._defaults.items() if k not in extra}
                extra = {**extra, **missing}
            name = record["name"]
            line = self._renderer.line(
                record["time"].timestamp(),
                level.name,
                "" if name is None else name,
                record["message"],
                record["file"].name,
                record["line"],
                record["function"],
                record["process"].id,
                record["thread"].name,
                exc_info,
                None,
                extra.items(),
                event_id,
                trace,
                None,
            )
            if self._renderer.scrub and MARKER in line:
                # Something was scrubbed: the same secret may sit elsewhere in the line.
                line = self._renderer.hide_repeats(
                    line, record["message"], extra.items(), exc_info, None
                )
        except Exception as exc:
            get = record.get if isinstance(record, Mapping) else (lambda key: None)
            level = get("level")
            return self._renderer.fallback_line(
                None,
                getattr(level, "name", level),
                get("name"),
                get("message"),
                exc,
            )
        return line
