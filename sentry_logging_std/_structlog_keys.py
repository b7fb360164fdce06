"""What the keys of a structlog event dict mean to this library's two structlog doors (a leaf)."""

from __future__ import annotations

import sys
from typing import Any, Optional

__all__ = ["EVENT_ID_KEY", "OWN_KEYS", "exc_info_of"]

#: The key SentryProcessor puts the Sentry event id of a call under; JsonRenderer
#: writes it as ``sentry.event_id``, and a stdlib record carrying it (in its
#: ``msg`` dict or as an attribute) is known to be sent already.
EVENT_ID_KEY = "sentry_event_id"

#: Keys with a meaning of their own: never context, fields or labels
#: (``_record`` and ``_from_structlog`` are what ProcessorFormatter adds).
OWN_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "exc_info",
        "exception",
        "stack_info",
        EVENT_ID_KEY,
        "_record",
        "_from_structlog",
    }
)


def exc_info_of(value: Any) -> Optional[tuple[Any, Any, Any]]:
    """The (type, exception, traceback) a true ``exc_info`` value stands for, or None.

    An exception instance or a tuple holding one, as given; any other true
    value means the exception being handled, as structlog and logging read it.
    """
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if type(value) is tuple and len(value) == 3 and isinstance(value[1], BaseException):
        return value
    current = sys.exc_info()
    return None if current[1] is None else current
