"""capture_error: for code that holds an exception without logging it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Optional, cast

import sentry_sdk

from sentry_logging_std._capture import build_event, sentry_level
from sentry_logging_std._options import parse_options
from sentry_logging_std._reporter import client_ready
from sentry_logging_std._tags import sanitize_tag_key, sanitize_tag_value

__all__ = ["capture_error"]

_LEVEL_NUMBERS = {"fatal": 50, "critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10}
_NO_OPTIONS = parse_options({"dsn": ""}, "capture_error")


def capture_error(
    err: Optional[BaseException],
    *,
    tags: Optional[Mapping[str, Any]] = None,
    context: Optional[Mapping[str, Any]] = None,
    level: str = "error",
) -> Optional[str]:
    """Send *err*, with its whole chain, to Sentry and return the event id.

    ``None`` is a no-op (and returns ``None``), so ``capture_error(maybe_err)``
    needs no guard. The client is the running one, or the one a configured
    SentryHandler would start. Like logging, this never raises.
    """
    if err is None:
        return None
    if not isinstance(err, BaseException):
        raise TypeError(f"capture_error: expected an exception, got {type(err).__name__}")
    levelno = _LEVEL_NUMBERS.get(level.lower())
    if levelno is None:
        raise ValueError(f"capture_error: level must be one of {', '.join(_LEVEL_NUMBERS)}")
    try:
        if not client_ready():
            return None
        return _capture(err, tags, context, levelno)
    except Exception:
        return None


def _capture(
    err: BaseException,
    tags: Optional[Mapping[str, Any]],
    context: Optional[Mapping[str, Any]],
    levelno: int,
) -> Optional[str]:
    from sentry_logging_std._capture import LogEntry

    message = f"{type(err).__name__}: {err}"
    entry = LogEntry(
        record=err,
        logger="sentry_logging_std.capture_error",
        levelno=levelno,
        template=message,
        params=None,
        message=message,
        created=time.time(),
        exc_info=(type(err), err, err.__traceback__),
    )
    event, hint = build_event(entry, _NO_OPTIONS, sentry_sdk.get_client().options)
    event["level"] = sentry_level(levelno)
    del event["logger"]
    if tags:
        event["tags"] = {sanitize_tag_key(str(k)): sanitize_tag_value(v) for k, v in tags.items()}
    if context:
        event["contexts"] = {"context": dict(context)}
    else:
        del event["contexts"]
    hint.pop("log_record", None)
    event_id: Optional[str] = sentry_sdk.capture_event(cast(Any, event), hint=hint)
    return event_id
