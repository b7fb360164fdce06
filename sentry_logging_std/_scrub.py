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
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional
from urllib.parse import unquote_plus

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_PATTERNS",
    "MARKER",
    "ScrubPolicy",
    "scrubbing_before_send",
    "scrubbing_before_send_transaction",
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

_CARD = re.compile(r"(?<![\d.-])(?:\d[ -]?){12,18}\d(?![\d-])")
_BEARER = re.compile(r"\b(Bearer|Basic|Token|Digest)\s+([A-Za-z0-9._~+/=\-]{6,})", re.IGNORECASE)
#: A plain word after "Basic", "Token", ... is prose ("Token refreshed"), not a credential.
_WORD = re.compile(r"[A-Z]?[a-z]+")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]{0,30}://[^:/@\s]+:)[^@/\s]+@", re.IGNORECASE)
# ``<secret key>=value`` / ``: value`` in text, for every key of the policy (``password=...``,
# ``refresh_token: ...``, ``csrf=...``), and the same quoted as in JSON text or a dict's repr
# (``"password": "..."``, ``'token': '...'``). Built per policy from this template.
_KEY_VALUE = (
    r"((?:{keys})[\"']?\s*[=:]\s*)"
    r"(\[Filtered\]|\"[^\"]*\"|'[^']*'|[^\s&,;\"'}}\]]+)"
)
#: Values that start a credential the credentials pattern has already handled.
_SCHEMES = frozenset({"bearer", "basic", "token", "digest"})

#: Named default patterns; each can be turned off with ``scrub_defaults_off``.
DEFAULT_PATTERNS = ("credit_card", "credentials_header", "url_password", "key_value")

#: Cheap first look: a string holding none of these words (plus one of each secret key's
#: parts, per policy) and no card-length run of digits is left alone.
_TRIGGER_WORDS = ("bearer", "basic", "token", "digest", "://")
#: Thirteen digits, single spaces or dashes between: the shortest card number. Written
#: to start with a digit, so that the search skips fast over text without one.
_CARD_DIGITS = re.compile(r"[0-9](?:[ -]?[0-9]){12}")
_CARD_LENGTH = 13
#: Every byte but the ASCII digits: ``bytes.translate`` deleting them counts digits fast.
_NOT_DIGITS = bytes(byte for byte in range(256) if not 0x30 <= byte <= 0x39)
_ANY_DIGITS = r"(?:\d[ -]?){12}\d"
#: Leaves with nothing to scrub, answered without a walk.
_ATOMS = frozenset({int, float, bool, type(None), bytes})
_CONTAINERS = (Mapping, list, tuple, set, frozenset)
_KEY_CACHE_SIZE = 4096
_TEXT_CACHE_SIZE = 4096
_TEXT_CACHE_LENGTH = 200
#: Keys whose hex values are the protocol's trace and span ids, written as they are.
_ID_KEYS = frozenset({"trace_id", "span_id", "parent_span_id"})
_HEX_ID = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{16})?")
#: A ``key=value`` pair of a query string or form body.
_QUERY_PAIR = re.compile(r"([^&=?#\s]+)=([^&#\s]*)")

_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_MAX_DEPTH = 20


def _gate(words: Iterable[str]) -> tuple[str, ...]:
    """Substrings one of which every string a pattern of the policy matches holds (lower case).

    A key-value match holds its whole key, so any one of the key's parts will
    do: one already there, else the longest. Words holding another are dropped.
    """
    gate = set(_TRIGGER_WORDS) | {w for w in words if w and "_" not in w}
    for word in sorted(w for w in words if "_" in w):
        parts = [part for part in word.split("_") if part]
        if parts and not gate.intersection(parts):
            gate.add(max(parts, key=len))
    return tuple(sorted(w for w in gate if not any(o != w and o in w for o in gate)))


#: English letters, most frequent first: a gate word is searched for from its rarest letter.
_LETTER_ORDER = "etaoinshrdlcumwfgypbvkjxqz"


def _gate_pattern(words: Iterable[str]) -> str:
    """One expression that finds any of *words* (lower case), quickly in ordinary text.

    The regex engine tries a match only where the text holds a character
    that can start one. Each word is therefore looked for from its rarest
    letter on, with a look-behind for the part before it (``password``
    becomes ``word(?<=password)`` when ``w`` is its rarest letter), and the
    words are grouped by that letter: a text is skipped fast wherever it
    holds none of a handful of rare letters.
    """

    def rarity(char: str) -> int:
        return _LETTER_ORDER.find(char) if char in _LETTER_ORDER else len(_LETTER_ORDER)

    groups: dict[str, list[str]] = {}
    for word in words:
        start = max(range(len(word)), key=lambda index: (rarity(word[index]), -index))
        rest = re.escape(word[start + 1 :])
        if start:
            rest += f"(?<={re.escape(word)})"
        groups.setdefault(word[start], []).append(rest)
    alternatives = []
    for char, rests in sorted(groups.items()):
        rests.sort(key=len, reverse=True)
        tail = rests[0] if len(rests) == 1 else f"(?:{'|'.join(rests)})"
        alternatives.append(re.escape(char) + tail)
    return "|".join(alternatives)


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


def _scrub_credential(match: re.Match[str]) -> str:
    if _WORD.fullmatch(match.group(2)):
        return match.group(0)
    return f"{match.group(1)} {MARKER}"


def _scrub_key_value(match: re.Match[str]) -> str:
    if match.group(2) == MARKER or match.group(2).lower() in _SCHEMES:
        return match.group(0)
    quote = match.group(2)[0]
    if quote in "\"'":
        return f"{match.group(1)}{quote}{MARKER}{quote}"
    return f"{match.group(1)}{MARKER}"


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
            self._substitutions.append((_BEARER, _scrub_credential))
        if "url_password" not in off:
            self._substitutions.append((_URL_PASSWORD, lambda m: f"{m.group(1)}{MARKER}@"))
        if "key_value" not in off and words:
            spellings = sorted(
                ("[_-]?".join(re.escape(part) for part in word.split("_")) for word in words),
                key=len,
                reverse=True,
            )
            key_value = re.compile(_KEY_VALUE.format(keys="|".join(spellings)), re.IGNORECASE)
            self._substitutions.append((key_value, _scrub_key_value))
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
        #: Whether :meth:`text` could change a string: a cheap test, never a false "no".
        self.may_change: Callable[[str], bool] = self._quick_test(_gate(words))
        self._keys_seen: dict[str, bool] = {}
        self._texts_seen: dict[str, str] = {}
        self._queries_seen: dict[str, str] = {}
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
            or any(
                part in self._words or (part.endswith("s") and part[:-1] in self._words)
                for part in normal.split("_")
            )
        )
        if len(self._keys_seen) >= _KEY_CACHE_SIZE:
            self._keys_seen.clear()
        self._keys_seen[key] = secret
        return secret

    def _quick_test(self, gate: tuple[str, ...]) -> Callable[[str], bool]:
        """The policy's ``may_change``: one function, everything it needs bound in it.

        A string may hold a secret when it holds the DSN key, any gate word
        (case-insensitively) or a card-length run of digits; with patterns
        of the user's, every string may.
        """
        if self._user_patterns:
            return lambda value: True
        literals = self._literals
        gate_search = re.compile(_gate_pattern(gate)).search
        card_search = _CARD_DIGITS.search
        # Case folding beyond ASCII: the expression itself, case-insensitive.
        trigger_search = re.compile(
            "|".join([*(re.escape(word) for word in gate), _ANY_DIGITS]), re.IGNORECASE
        ).search

        def may_change(value: str) -> bool:
            for literal in literals:
                if literal in value:
                    return True
            if not value.isascii():
                return trigger_search(value) is not None
            if gate_search(value.lower()) is not None:
                return True
            # A card number needs thirteen digits: most strings have fewer, counted in C.
            return (
                len(value) >= _CARD_LENGTH
                and len(value.encode().translate(None, _NOT_DIGITS)) >= _CARD_LENGTH
                and card_search(value) is not None
            )

        return may_change

    def text(self, value: str) -> str:
        """*value* with every secret the patterns find replaced.

        Short strings' answers are remembered (a bounded table): an event's
        breadcrumbs and frame variables come again in the next event.
        """
        known = self._texts_seen.get(value)
        if known is not None:
            return known
        result = self._text(value)
        if len(value) <= _TEXT_CACHE_LENGTH:
            if len(self._texts_seen) >= _TEXT_CACHE_SIZE:
                self._texts_seen.clear()
            self._texts_seen[value] = result
        return result

    def _text(self, value: str) -> str:
        if not self.may_change(value):
            return value
        for literal in self._literals:
            if literal in value:
                value = value.replace(literal, MARKER)
        for pattern, replacement in self._substitutions:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: Any, depth: int = 0, active: Optional[set[int]] = None) -> Any:
        """A scrubbed copy of *value*: mappings and sequences at every depth, strings by pattern.

        Other objects are returned as they are (their text is scrubbed once
        they become strings in a line or an event). Never raises.
        """
        kind = type(value)
        if kind in _ATOMS:
            return value
        try:
            if kind is str or isinstance(value, str):
                return self.text(value)
            if depth >= _MAX_DEPTH or not (
                kind is dict or kind is list or isinstance(value, _CONTAINERS)
            ):
                return value
            active = set() if active is None else active
            if id(value) in active:
                return value
            active.add(id(value))
            try:
                if kind is dict or isinstance(value, Mapping):
                    return self._mapping(value, depth + 1, active)
                return [self.value(item, depth + 1, active) for item in value]
            finally:
                active.discard(id(value))
        except Exception:
            return MARKER

    def _mapping(self, value: Mapping[Any, Any], depth: int, active: set[int]) -> dict[Any, Any]:
        keys_seen = self._keys_seen
        texts_seen = self._texts_seen
        result: dict[Any, Any] = {}
        for key, item in value.items():
            secret = keys_seen.get(key) if type(key) is str else None
            if secret is None:
                secret = self.secret_key(key)
            kind = type(item)
            if secret and item is not None:
                result[key] = MARKER
            elif kind is str:
                if key in _ID_KEYS and _HEX_ID.fullmatch(item):
                    # A trace or span id: random hex, which may hold a run of
                    # digits that passes for a card number (1 in ~450).
                    result[key] = item
                    continue
                text = texts_seen.get(item)
                result[key] = self.text(item) if text is None else text
            elif kind in _ATOMS:
                result[key] = item
            else:
                result[key] = self.value(item, depth, active)
        return result

    def event(
        self, event: dict[str, Any], send_default_pii: Optional[bool] = None
    ) -> dict[str, Any]:
        """Scrub a Sentry event in place (it is ours: built for this send) and return it.

        Without *send_default_pii* (``None``: as the running client says) the
        user's e-mail and IP address, the client's address, cookies and the
        request body are personal data and go too.
        """
        if send_default_pii is None:
            send_default_pii = _client_sends_pii()
        for part in ("extra", "contexts", "user", "tags", "logentry", "request"):
            if part in event and event[part] is not None:
                event[part] = self.value(event[part])
        if isinstance(event.get("message"), str):
            event["message"] = self.text(event["message"])
        request = event.get("request")
        if isinstance(request, dict):
            self._request(request, send_default_pii, event)
        if not send_default_pii and isinstance(event.get("user"), dict):
            user = event["user"]
            if user.get("email"):
                user["email"] = MARKER
            if user.get("ip_address"):
                # Not a marker: servers check the address's syntax and may refuse the event.
                del user["ip_address"]
                _note_removed(event, "user", "ip_address")
        crumbs = event.get("breadcrumbs")
        if isinstance(crumbs, dict) and isinstance(crumbs.get("values"), list):
            crumbs["values"] = self.value(crumbs["values"])
        for container in ("exception", "threads"):
            for item in _dicts(_member(event.get(container), "values")):
                if isinstance(item.get("value"), str):
                    item["value"] = self.text(item["value"])
                for frame in _dicts(_member(item.get("stacktrace"), "frames")):
                    if isinstance(frame.get("vars"), dict):
                        frame["vars"] = self.value(frame["vars"])
        spans = event.get("spans")
        if isinstance(spans, list):  # a transaction's: their data and descriptions
            for span in spans:
                if isinstance(span, dict):
                    if isinstance(span.get("data"), dict):
                        span["data"] = self.value(span["data"])
                    if isinstance(span.get("description"), str):
                        span["description"] = self.text(span["description"])
        return event

    def _request(self, request: dict[str, Any], pii: bool, event: dict[str, Any]) -> None:
        """Query string, URL and body by their keys; personal parts without *pii*."""
        for name in ("query_string", "url"):
            if isinstance(request.get(name), str):
                request[name] = self._query(request[name])
        if not pii:
            for name in ("cookies", "data"):
                if request.get(name):
                    request[name] = MARKER
            env = request.get("env")
            if isinstance(env, dict) and env.get("REMOTE_ADDR"):
                env["REMOTE_ADDR"] = MARKER
        elif isinstance(request.get("data"), str):
            request["data"] = self._body(request["data"])

    def _body(self, text: str) -> str:
        """A request body: JSON scrubbed by its keys, a form by its fields, else by pattern."""
        stripped = text.strip()
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                pass
            else:
                scrubbed = self.value(parsed)
                return text if scrubbed == parsed else json.dumps(scrubbed, ensure_ascii=False)
        if "=" in stripped and not any(char.isspace() for char in stripped):
            return self._query(text)
        return text

    def _query(self, text: str) -> str:
        """Query strings: ``key=value`` pairs whose key is secret lose their value.

        Answers are remembered (a bounded table): a route's URL comes again
        with every request.
        """
        known = self._queries_seen.get(text)
        if known is not None:
            return known

        def pair(match: re.Match[str]) -> str:
            key = match.group(1)
            secret = self.secret_key(key) or self.secret_key(unquote_plus(key))
            return f"{key}={MARKER}" if secret else match.group(0)

        result = self.text(_QUERY_PAIR.sub(pair, text))
        if len(text) <= _TEXT_CACHE_LENGTH:
            if len(self._queries_seen) >= _TEXT_CACHE_SIZE:
                self._queries_seen.clear()
            self._queries_seen[text] = result
        return result


def _member(value: Any, name: str) -> Any:
    """``value[name]`` when *value* is a dict, else None."""
    return value.get(name) if isinstance(value, dict) else None


def _dicts(values: Any) -> list[dict[str, Any]]:
    """The dicts in *values* when it is a list, else none."""
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _client_sends_pii() -> bool:
    """Whether the running sentry-sdk client has ``send_default_pii`` on."""
    import sentry_sdk

    try:
        return bool(sentry_sdk.get_client().options.get("send_default_pii"))
    except Exception:
        return False


def _note_removed(event: dict[str, Any], *path: str) -> None:
    """Say in the event's ``_meta`` (Sentry's protocol for it) that a value was removed."""
    meta = event.get("_meta")
    if not isinstance(meta, dict):
        meta = event["_meta"] = {}
    for part in path:
        child = meta.get(part)
        if not isinstance(child, dict):
            child = meta[part] = {}
        meta = child
    meta[""] = {"rem": [["!config", "x"]]}


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


def scrubbing_before_send_transaction(policy: ScrubPolicy) -> Callable[[Any, Any], Any]:
    """sentry-sdk's ``before_send_transaction``: transactions carry the request and scope too.

    A transaction that cannot be scrubbed is not sent, and counted.
    """

    def before_send_transaction(event: Any, hint: Any) -> Any:
        try:
            return policy.event(event)
        except Exception:
            policy.counts["dropped_scrub_error"] += 1
            diagnostics.warning(
                "sentry-logging-std: a transaction could not be scrubbed", exc_info=True
            )
            return None

    return before_send_transaction
