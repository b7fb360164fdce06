"""Making tag keys and values acceptable to Sentry.

Sentry accepts a tag key of at most 32 characters from ``[a-zA-Z0-9_.:-]`` and
a value of at most 200 characters without a newline. Anything else is rejected
by the server (the tag is dropped and the event is marked with an error), so
tags are made valid before they leave the process.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_KEY_LENGTH", "MAX_VALUE_LENGTH", "sanitize_tag_key", "sanitize_tag_value"]

MAX_KEY_LENGTH = 32
MAX_VALUE_LENGTH = 200
_INVALID_KEY_CHARS = re.compile(r"[^a-zA-Z0-9_.:-]")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_ELLIPSIS = "..."


def sanitize_tag_key(key: str) -> str:
    """Replace characters Sentry refuses with ``_`` and cut to 32 characters."""
    cleaned = _INVALID_KEY_CHARS.sub("_", key.strip())[:MAX_KEY_LENGTH]
    return cleaned or "_"


def sanitize_tag_value(value: Any) -> str:
    """Turn *value* into a one-line string of at most 200 characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        try:
            text = str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    text = _LINE_BREAKS.sub(" ", text).strip()
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - len(_ELLIPSIS)] + _ELLIPSIS
    return text or "(empty)"
