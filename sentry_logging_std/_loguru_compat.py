"""The one place that reads a loguru internal: a log call's template and arguments.

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

__all__ = ["call_arguments"]

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
