"""One scrubbing policy: secrets are replaced by a marker before anything leaves the process.

A value is scrubbed when its *key* names a secret (``password``, ``api_key``,
``authorization``, ``sessionid``, ... — matched on the key's words, so
``db_password`` and ``accessToken`` count) or when a *pattern* finds one in a
string (``Bearer``/``Basic`` credentials, ``user:password@`` in URLs, credit
card numbers that pass the Luhn check, the DSN's own key). Scrubbed values
become :data:`MARKER`, never disappear, so a reader can tell. Nested
structures are scrubbed at every depth; the input is never changed (a new
structure is returned); cycles and hostile objects never make it raise.

Leaf module: imports nothing from the package.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_PATTERNS",
    "MARKER",
    "ScrubPolicy",
    "scrubbing_before_send",
]

diagnostics = logging.getLogger("sentry_sdk.errors")

MARKER = "[Filtered]"

DEFAULT_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "auth",
        "cookie",
        "set_cookie",
        "session",
        "sessionid",
        "session_id",
        "csrf",
        "csrftoken",
        "xsrf",
        "private_key",
        "secret_key",
        "client_secret",
        "credentials",
        "x_api_key",
    }
)

_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_BEARER = re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token)\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s&,;]+)",
    re.IGNORECASE,
)

#: Named default patterns; each can be turned off with ``scrub_defaults_off``.
DEFAULT_PATTERNS = ("credit_card", "credentials_header", "url_password", "key_value")

#: Cheap first look: a string none of the default patterns could match is left alone.
_TRIGGER = re.compile(
    r"bearer|basic|token|digest|://|pass|pwd|secret|api[_-]?key|\d[ -]?\d[ -]?\d[ -]?\d",
    re.IGNORECASE,
)
_KEY_CACHE_SIZE = 4096

_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_MAX_DEPTH = 20


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def _scrub_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return MARKER if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


class ScrubPolicy:
    """Which keys and patterns are secret; applies to Sentry events and JSON lines alike."""

    def __init__(
        self,
        keys: Iterable[str] = (),
        patterns: Iterable[str] = (),
        defaults_off: Iterable[str] = (),
        literals: Iterable[str] = (),
    ) -> None:
        off = {name.lower() for name in defaults_off}
        unknown_off = off - set(DEFAULT_PATTERNS) - set(DEFAULT_KEYS)
        if unknown_off:
            raise ValueError(
                f"scrub_defaults_off: unknown default(s) {sorted(unknown_off)}; known: "
                f"{', '.join(DEFAULT_PATTERNS)} and the default keys"
            )
        words = {self._normal(k) for k in DEFAULT_KEYS if k not in off}
        words |= {self._normal(k) for k in keys}
        self._words = frozenset(words)
        self._compact = frozenset(w.replace("_", "") for w in words)
        self._substitutions: list[tuple[re.Pattern[str], Any]] = []
        if "credentials_header" not in off:
            self._substitutions.append((_BEARER, lambda m: f"{m.group(1)} {MARKER}"))
        if "url_password" not in off:
            self._substitutions.append((_URL_PASSWORD, lambda m: f"{m.group(1)}{MARKER}@"))
        if "key_value" not in off:
            self._substitutions.append((_KEY_VALUE, lambda m: f"{m.group(1)}{MARKER}"))
        if "credit_card" not in off:
            self._substitutions.append((_CARD, _scrub_card))
        self._user_patterns = False
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"scrub_patterns: {pattern!r} is not a regex: {exc}") from None
            self._substitutions.append((compiled, MARKER))
            self._user_patterns = True
        self._literals = tuple(lit for lit in literals if lit and len(lit) >= 4)
        self._keys_seen: dict[str, bool] = {}
        #: Events whose before_send raised (sent scrubbed, unchanged by it),
        #: or that could not be scrubbed (not sent: a secret must not leave).
        self.counts: collections.Counter[str] = collections.Counter()

    @staticmethod
    def _normal(key: str) -> str:
        return "_".join(p for p in _SPLIT.split(_CAMEL.sub(r"\1_\2", key).lower()) if p)

    def secret_key(self, key: object) -> bool:
        """Whether values under *key* are secret (answers are remembered per key)."""
        if not isinstance(key, str):
            return False
        known = self._keys_seen.get(key)
        if known is not None:
            return known
        normal = self._normal(key)
        secret = (
            normal in self._words
            or normal.replace("_", "") in self._compact
            or any(part in self._words for part in normal.split("_"))
        )
        if len(self._keys_seen) >= _KEY_CACHE_SIZE:
            self._keys_seen.clear()
        self._keys_seen[key] = secret
        return secret

    def text(self, value: str) -> str:
        """*value* with every secret the patterns find replaced."""
        for literal in self._literals:
            if literal in value:
                value = value.replace(literal, MARKER)
        if not self._user_patterns and _TRIGGER.search(value) is None:
            return value
        for pattern, replacement in self._substitutions:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: Any, depth: int = 0, active: Optional[set[int]] = None) -> Any:
        """A scrubbed copy of *value*: mappings and sequences at every depth, strings by pattern.

        Other objects are returned as they are (their text is scrubbed once
        they become strings in a line or an event). Never raises.
        """
        try:
            if isinstance(value, str):
                return self.text(value)
            if depth >= _MAX_DEPTH or not isinstance(value, (Mapping, list, tuple, set, frozenset)):
                return value
            active = set() if active is None else active
            if id(value) in active:
                return value
            active.add(id(value))
            try:
                if isinstance(value, Mapping):
                    return {
                        key: MARKER
                        if self.secret_key(key) and item is not None
                        else self.value(item, depth + 1, active)
                        for key, item in value.items()
                    }
                return [self.value(item, depth + 1, active) for item in value]
            finally:
                active.discard(id(value))
        except Exception:
            return MARKER

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Scrub a Sentry event in place (it is ours: built for this send) and return it."""
        for part in ("extra", "contexts", "user", "tags", "logentry", "request"):
            if part in event and event[part] is not None:
                event[part] = self.value(event[part])
        if isinstance(event.get("message"), str):
            event["message"] = self.text(event["message"])
        request = event.get("request")
        if isinstance(request, dict):
            for name in ("query_string", "url"):
                if isinstance(request.get(name), str):
                    request[name] = self._query(request[name])
        crumbs = event.get("breadcrumbs")
        if isinstance(crumbs, dict) and isinstance(crumbs.get("values"), list):
            crumbs["values"] = self.value(crumbs["values"])
        for container in ("exception", "threads"):
            values = (event.get(container) or {}).get("values")
            if not isinstance(values, list):
                continue
            for item in values:
                if not isinstance(item, dict):
                    continue
                if isinstance(item.get("value"), str):
                    item["value"] = self.text(item["value"])
                for frame in (item.get("stacktrace") or {}).get("frames") or ():
                    if isinstance(frame, dict) and isinstance(frame.get("vars"), dict):
                        frame["vars"] = self.value(frame["vars"])
        return event

    def _query(self, text: str) -> str:
        """Query strings: ``key=value`` pairs whose key is secret lose their value."""

        def pair(match: re.Match[str]) -> str:
            key = match.group(1)
            return f"{key}={MARKER}" if self.secret_key(key) else match.group(0)

        return self.text(re.sub(r"([^&=?#\s]+)=([^&#\s]*)", pair, text))


def scrubbing_before_send(
    policy: ScrubPolicy, user: Optional[Callable[..., Any]]
) -> Callable[[Any, Any], Any]:
    """sentry-sdk's ``before_send``: scrub first, then the user's ``before_send``.

    An event that cannot be scrubbed is not sent; a user's ``before_send``
    that raises is reported (printed with ``debug=True``), counted, and the
    scrubbed event is sent as it was — never a silent loss.
    """

    def before_send(event: Any, hint: Any) -> Any:
        try:
            event = policy.event(event)
        except Exception:
            policy.counts["dropped_scrub_error"] += 1
            diagnostics.warning("sentry-logging-std: an event could not be scrubbed", exc_info=True)
            return None
        if user is None:
            return event
        try:
            return user(event, hint)
        except Exception:
            policy.counts["before_send_errors"] += 1
            diagnostics.warning(
                "sentry-logging-std: before_send raised; the event is sent without it",
                exc_info=True,
            )
            return event

    return before_send
