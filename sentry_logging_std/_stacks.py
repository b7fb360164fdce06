"""Stacks: the caller's stack for a log call, and exception chains.

What a stack looks like must be taken when the log call happens — the
calling code goes on running and changes its variables — but turning it into
Sentry's form is the expensive part and can happen later, on another thread.
So a stack is *frozen* at call time (:class:`FrozenFrame`: the code, globals,
line and a shallow copy of the local variables) and *serialised* later by
sentry-sdk's own ``serialize_frame``, which reads a frozen frame exactly as it
reads a live one.

Leaf module: imports nothing from the package above it.
"""

from __future__ import annotations

import os
import sys
from types import CodeType, FrameType
from typing import Any, Optional

from sentry_sdk.utils import event_from_exception, serialize_frame

__all__ = [
    "MAX_FRAMES",
    "FrozenFrame",
    "caller_frame",
    "exception_values",
    "freeze_exception",
    "freeze_stack",
    "serialize_stack",
]

#: The innermost frames kept for a stack without an exception.
MAX_FRAMES = 100

#: Frames of an exception chain by (absolute path, function, line).
FrameKey = tuple[Optional[str], str, int]


class FrozenFrame:
    """What ``serialize_frame`` reads from a frame, fixed at one moment."""

    __slots__ = ("f_code", "f_globals", "f_lineno", "f_locals")

    def __init__(self, frame: FrameType, lineno: int, with_locals: bool) -> None:
        self.f_code: CodeType = frame.f_code
        self.f_globals: dict[str, Any] = frame.f_globals
        self.f_lineno = lineno
        self.f_locals: dict[str, Any] = dict(frame.f_locals) if with_locals else {}

    def key(self) -> FrameKey:
        filename = self.f_code.co_filename
        return (os.path.abspath(filename) if filename else None, self.f_code.co_name, self.f_lineno)


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


def freeze_stack(frame: FrameType) -> list[FrozenFrame]:
    """The stack from *frame* outwards, outermost first, frozen now.

    Local variables are kept for the calling function only: they are what
    explains a log call, and every outer frame's would cost the calling
    thread several times more than the rest of the event.
    """
    frozen: list[FrozenFrame] = []
    current: Optional[FrameType] = frame
    while current is not None and len(frozen) < MAX_FRAMES:
        frozen.append(FrozenFrame(current, current.f_lineno, with_locals=current is frame))
        current = current.f_back
    frozen.reverse()
    return frozen


def serialize_stack(frozen: list[FrozenFrame], client_options: Any) -> list[dict[str, Any]]:
    """Sentry frames for a frozen stack, with the client's locals and source settings."""
    include_locals = bool(client_options.get("include_local_variables", True))
    include_source = bool(client_options.get("include_source_context", True))
    max_length = client_options.get("max_value_length")
    return [
        serialize_frame(
            frame,  # type: ignore[arg-type]  # a FrozenFrame reads as a frame
            tb_lineno=frame.f_lineno,
            include_local_variables=include_locals and bool(frame.f_locals),
            include_source_context=include_source,
            max_value_length=max_length,
        )
        for frame in frozen
    ]


def freeze_exception(exc_value: BaseException) -> dict[FrameKey, list[FrozenFrame]]:
    """Every frame of an exception chain (causes, contexts, groups), frozen now.

    The frames of code still running when the error is logged — the function
    that caught it and its callers — go on changing their variables; these
    copies keep the values they had at the log call.
    """
    frozen: dict[FrameKey, list[FrozenFrame]] = {}
    seen: set[int] = set()
    pending: list[BaseException] = [exc_value]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            frame = FrozenFrame(tb.tb_frame, tb.tb_lineno, with_locals=True)
            frozen.setdefault(frame.key(), []).append(frame)
            tb = tb.tb_next
        pending.extend(linked for linked in (exc.__cause__, exc.__context__) if linked is not None)
        members = getattr(exc, "exceptions", None)
        if isinstance(members, (list, tuple)):
            pending.extend(m for m in members if isinstance(m, BaseException))
    return frozen


def exception_values(
    exc_info: tuple[Any, Any, Any],
    client_options: Any,
    mechanism_type: str,
    frozen: Optional[dict[FrameKey, list[FrozenFrame]]] = None,
) -> list[dict[str, Any]]:
    """The whole exception chain in Sentry's form: causes, contexts and groups.

    Built by sentry-sdk's public ``event_from_exception``, so chains and
    exception groups look exactly as sentry-sdk itself would send them. With
    *frozen* (from :func:`freeze_exception`), each frame's variables are the
    ones it had when the error was logged.
    """
    options = dict(client_options)
    # With every frame frozen, the live frames' variables would be serialised
    # only to be replaced: leave them out, and add the frozen ones.
    restore = bool(frozen) and bool(options.get("include_local_variables", True))
    if restore:
        options["include_local_variables"] = False
    event, _hint = event_from_exception(
        exc_info,
        client_options=options,
        mechanism={"type": mechanism_type, "handled": True},
    )
    values: list[dict[str, Any]] = event["exception"]["values"]
    if restore and not _restore_variables(values, frozen or {}, client_options):
        # A frame without its frozen copy (never seen so far): the live
        # variables are better than none.
        return exception_values(exc_info, client_options, mechanism_type, None)
    return values


def _restore_variables(
    values: list[dict[str, Any]], frozen: dict[FrameKey, list[FrozenFrame]], client_options: Any
) -> bool:
    """Give every frame the variables of its frozen copy; False if one has none."""
    max_length = client_options.get("max_value_length")
    taken: dict[FrameKey, int] = {}
    for value in values:
        for frame in (value.get("stacktrace") or {}).get("frames") or ():
            key: FrameKey = (frame.get("abs_path"), frame.get("function") or "", frame["lineno"])
            candidates = frozen.get(key)
            if not candidates:
                return False
            index = taken.get(key, 0)
            # The same frame in several exceptions of a chain is one frame
            # object: reuse the last copy rather than run out.
            copy = candidates[min(index, len(candidates) - 1)]
            taken[key] = index + 1
            redone = serialize_frame(
                copy,  # type: ignore[arg-type]  # a FrozenFrame reads as a frame
                tb_lineno=copy.f_lineno,
                include_local_variables=True,
                include_source_context=False,
                max_value_length=max_length,
            )
            if "vars" in redone:
                frame["vars"] = redone["vars"]
    return True
