"""The scrubbing policy applied to JSON lines, cheaply enough for the formatter's hot path.

:class:`~sentry_logging_std._scrub.ScrubPolicy` decides what is secret;
this module puts a per-policy :class:`LineScrubber` in front of it for the
renderer. A line scrubs many short strings that repeat (label values, the
message of a record formatted by several handlers), and most of them could
not hold a secret at all, so the scrubber

- remembers the scrubbed form of short strings (a bounded table, shared by
  every front door with the same policy),
- asks the policy's cheap ``may_change`` test before its patterns, and
- writes an int or float below 10**12 in magnitude as it is when the policy
  has only its default patterns (in digits, those find only card numbers,
  of thirteen digits or more).

Which policy: a front door given ``scrub_keys``, ``scrub_patterns`` or
``scrub_defaults_off`` has its own; any other follows the policy the
process's SentryHandler/SentrySink was configured with
(``INITIALIZER.scrub_policy``, looked up per record: a formatter is often
built before the handler), else the defaults.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Optional

from sentry_logging_std._options import scrub_policy
from sentry_logging_std._scrub import MARKER, ScrubPolicy

__all__ = ["MARKER", "LineScrubber", "build_policy", "scrubber_for"]

#: Strings up to this long have their scrubbed form remembered.
_CACHED_LENGTH = 256
#: At most this many remembered strings; the table starts over when full.
_CACHE_SIZE = 4096

#: An int or float below 10**12 in magnitude holds no card number (13+ digits).
NUMBER_TEXT = 12
_NUMBER_CHARS = frozenset("0123456789+-.einfa")
#: Twelve digits: no default pattern can change it (a card number has thirteen or more).
_NUMBER_PROBE = "412345678901"


def _quick_check_for(policy: ScrubPolicy) -> Optional[Callable[[str], bool]]:
    """The policy's cheap "could :meth:`text` change this string" test, or None: always ask."""
    check = getattr(policy, "may_change", None)
    return check if callable(check) else None


def _numbers_safe(policy: ScrubPolicy, quick: Optional[Callable[[str], bool]]) -> bool:
    """Whether the policy leaves the text of every number of at most NUMBER_TEXT characters.

    True when its cheap test finds nothing to change in twelve digits (so no
    user pattern, and the defaults look for card numbers of 13+ digits only)
    and no literal secret (the DSN key) is short and number-like.
    """
    if quick is None:
        return False
    try:
        if quick(_NUMBER_PROBE):
            return False
    except Exception:
        return False
    literals = getattr(policy, "_literals", None)
    if type(literals) is not tuple:
        return False
    return all(
        type(lit) is str and (len(lit) > NUMBER_TEXT or not set(lit) <= _NUMBER_CHARS)
        for lit in literals
    )


class LineScrubber:
    """One policy, applied to the strings and structures of JSON lines; never raises."""

    def __init__(self, policy: ScrubPolicy) -> None:
        self.policy = policy
        #: str -> its scrubbed form, for short strings; read without a lock.
        self.cache: dict[str, str] = {}
        self._quick = _quick_check_for(policy)
        #: Whether numbers below 10**12 can be written without asking the policy.
        self.numbers_safe = _numbers_safe(policy, self._quick)
        self._secret_key = policy.secret_key
        self._text = policy.text
        # The last long text scrubbed and its result: a stack trace formatted
        # by several handlers is scrubbed once.
        self._last: tuple[str, str] = ("", "")

    def secret_key(self, key: Any) -> bool:
        """Whether values under *key* are replaced by the marker."""
        try:
            return self._secret_key(key) is True
        except Exception:
            return False

    def text(self, value: str) -> str:
        """*value* with every secret the policy finds replaced by the marker."""
        cache = self.cache
        hit = cache.get(value)
        if hit is not None:
            return hit
        quick = self._quick
        try:
            if quick is not None and not quick(value):
                result = value
            else:
                result = self._text(value)
                if type(result) is not str:
                    result = MARKER
        except Exception:
            result = MARKER  # a string that cannot be checked is not written
        if len(value) <= _CACHED_LENGTH:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[value] = result
        return result

    def long_text(self, value: str) -> str:
        """:meth:`text` for a long string that may come again right away (a stack trace)."""
        last = self._last
        if last[0] is value:
            return last[1]
        result = self.text(value)
        self._last = (value, result)
        return result


_scrubbers: weakref.WeakKeyDictionary[ScrubPolicy, LineScrubber] = weakref.WeakKeyDictionary()
_scrubbers_lock = threading.Lock()


def scrubber_for(policy: ScrubPolicy) -> LineScrubber:
    """The one scrubber of *policy*: front doors sharing a policy share its tables."""
    with _scrubbers_lock:
        scrubber = _scrubbers.get(policy)
        if scrubber is None:
            scrubber = _scrubbers[policy] = LineScrubber(policy)
        return scrubber


def build_policy(
    scrub_keys: object = None, scrub_patterns: object = None, scrub_defaults_off: object = None
) -> Optional[ScrubPolicy]:
    """The front door's own policy, or None when it was given none (it follows the handler's).

    Raises TypeError or ValueError naming the option.
    """
    if scrub_keys is None and scrub_patterns is None and scrub_defaults_off is None:
        return None
    return scrub_policy(scrub_keys, scrub_patterns, scrub_defaults_off)
