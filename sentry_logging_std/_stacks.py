"""Stacks: the caller's stack for a log call, and exception chains.

Leaf module: imports nothing from the package above it.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any, Optional

from sentry_sdk.utils import event_from_exception, serialize_frame

__all__ = ["MAX_FRAMES", "caller_frame", "exception_values", "serialize_stack"]

#: The innermost frames kept for a stack without an exception.
MAX_FRAMES = 100


def caller_frame(pathname: str, lineno: int, function: str) -> Optional[FrameType]:
    """Find the frame that made the log call, walking out from the current one.

    A record names the file, line and function of its log call; the first
    frame on this thread's stack that matches all three is that call, and
    everything inside it (the logging module, handlers, this library) is left
    out. None when the record was made on another thread (a QueueHandler).
    """
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if frame.f_lineno == lineno and code.co_name == function and code.co_filename == pathname:
            return frame
        frame = frame.f_back
    return None


def serialize_stack(frame: FrameType, client_options: dict[str, Any]) -> list[dict[str, Any]]:
    """Sentry frames, outermost first, from *frame* outwards.

    Local variables are taken from the calling function only (when the
    client's ``include_local_variables`` allows): they are what explains a
    log call, and serialising every outer frame's locals would cost the
    calling thread several times more than the rest of the event.
    """
    frames: list[FrameType] = []
    current: Optional[FrameType] = frame
    while current is not None and len(frames) < MAX_FRAMES:
        frames.append(current)
        current = current.f_back
    include_locals = bool(client_options.get("include_local_variables", True))
    include_source = bool(client_options.get("include_source_context", True))
    max_length = client_options.get("max_value_length")
    return [
        serialize_frame(
            f,
            include_local_variables=include_locals and f is frame,
            include_source_context=include_source,
            max_value_length=max_length,
        )
        for f in reversed(frames)
    ]


def exception_values(
    exc_info: tuple[Any, Any, Any], client_options: dict[str, Any], mechanism_type: str
) -> list[dict[str, Any]]:
    """The whole exception chain in Sentry's form: causes, contexts and groups.

    Built by sentry-sdk's public ``event_from_exception``, so chains and
    exception groups look exactly as sentry-sdk itself would send them.
    """
    event, _hint = event_from_exception(
        exc_info,
        client_options=client_options,
        mechanism={"type": mechanism_type, "handled": True},
    )
    values: list[dict[str, Any]] = event["exception"]["values"]
    return values
