"""Where loguru (and sentry-sdk's loguru support) must be met on their own terms.

Two things live here and nowhere else:

- ``call_arguments``: a log call's template and arguments, read from loguru's frame.
- ``quiet_loguru_integration``: sentry-sdk's LoguruIntegration, silenced.

A log call's template and arguments:

loguru formats ``logger.info("order {} failed", 7)`` into "order 7 failed"
before any sink, patcher or format function sees the record, and keeps no
copy of the template or the arguments. Without them every order would be its
own Sentry issue. While the record is being handled on the logging thread,
the frame of loguru's ``Logger._log`` is still on the stack, with the
template, the arguments and the record itself as local variables; this module
finds that frame — recognised by the record it holds being *this* record, so a
changed loguru can only make it find nothing — and returns what it holds.

Tested against the oldest and newest supported loguru (tests/test_loguru.py,
run by scripts/test with constraints/oldest.txt).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import FrameType
from typing import Any, Optional

__all__ = ["call_arguments", "quiet_loguru_integration"]

_MAX_DEPTH = 12


def call_arguments(record: Mapping[str, Any]) -> Optional[tuple[str, Any]]:
    """``(template, params)`` of the log call that made *record*, if still on the stack.

    ``params`` is a list for positional arguments, a dict for keyword-only
    ones, or None. None when the call is not found (another thread, as with
    ``enqueue=True``, or a loguru that no longer keeps these locals).
    """
    frame: Optional[FrameType] = sys._getframe(1)
    depth = 0
    while frame is not None and depth < _MAX_DEPTH:
        if frame.f_code.co_name == "_log":
            found = _from_log_frame(frame, record)
            if found is not None:
                return found
        frame = frame.f_back
        depth += 1
    return None


def _from_log_frame(frame: FrameType, record: Mapping[str, Any]) -> Optional[tuple[str, Any]]:
    local = frame.f_locals
    if local.get("log_record") is not record:
        return None
    message = local.get("message")
    if not isinstance(message, str):
        return None
    args = local.get("args") or ()
    kwargs = local.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        kwargs = {}
    kwargs = {key: value for key, value in kwargs.items() if key != "record"}
    params: Any
    if args:
        params = list(args)
    elif kwargs:
        params = dict(kwargs)
    else:
        params = None
    return message, params


def quiet_loguru_integration() -> Any:
    """A LoguruIntegration that adds no loguru sink, or None without loguru.

    Given to the client this library starts, it stops sentry-sdk from enabling
    its own (which would send each loguru error a second time and record every
    breadcrumb twice). Newer sentry-sdk releases configure the integration
    through class attributes that ``setup_once`` reads; older ones add and
    remove loguru handlers in ``__init__`` — which, inside a sink call, can
    deadlock loguru — so there an instance is made without running it.
    """
    try:
        from sentry_sdk.integrations.loguru import LoguruIntegration
    except Exception:  # loguru not installed (DidNotEnable), or no integration at all
        return None
    if "level" not in vars(LoguruIntegration):
        return LoguruIntegration.__new__(LoguruIntegration)
    try:
        return LoguruIntegration(level=None, event_level=None, sentry_logs_level=None)  # type: ignore[call-arg, unused-ignore]
    except TypeError:  # releases before Sentry Logs
        return LoguruIntegration(level=None, event_level=None)
