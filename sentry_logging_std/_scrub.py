"""One scrubbing policy: secrets are replaced by a marker before anything leaves the process.

A value is scrubbed when its *key* names a secret (``password``, ``api_key``,
``authorization``, ``sessionid``, ... — matched on the key's words, so
``db_password`` and ``accessToken`` count) or when a *pattern* finds one in a
string (``Bearer``/``Basic`` credentials, ``user:password@`` in URLs, credit
card numbers that pass the Luhn check, the DSN's own key). Scrubbed values
become :data:`MARKER`, never disappear, so a reader can tell. Nested
structures are scrubbed at every depth; the input is never changed (a new
structure is returned); cycles and hostile objects never make it raise.

Leaf module: imports nothing from the package (orjson, a dependency, for one pass).
"""

from __future__ import annotations

import collections
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional
from urllib.parse import unquote_plus

import orjson

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_PATTERNS",
    "MARKER",
    "ScrubPolicy",
    "hide_in",
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
# ``<secret key>=value`` / ``: value`` for every key of the policy, in the shapes text and
# code write it: ``password=...``, ``refresh_token: ...``, ``"password": "..."`` (JSON, a
# dict's repr), ``name = "..."``, ``name: str = "..."``, ``name="..."`` (a keyword argument),
# ``headers["Authorization"] = "..."``, ``token == "..."``. Built per policy from this
# template; ``{bare}`` is what an unquoted value may be (any word in text, a number in code).
_KEY_VALUE = (
    r"((?:{keys})(?:\\?[\"'])?\]?"
    r"(?:\s*:\s*[A-Za-z_][\w.]*(?:\[[^\]\n=]*\]+)?"
    r"(?:\s*\|\s*[A-Za-z_][\w.]*(?:\[[^\]\n=]*\]+)?)*(?=\s+=\s))?"
    r"\s*(?::=|[!=]=|[=:])\s*)"
    r"(((?:%(?:\([^)\n]*\))?[#0 +-]*\d*(?:\.\d+)?[sdrifeEgGxXoa]"
    r"|\{{\w*(?:[!:][^{{}}\s]*)?\}}))(?=[\s&,;\"'}}\])]|$)"
    r"|\[Filtered\]"
    r"|(?:bearer|basic|token|digest|negotiate)\s+[A-Za-z0-9._~+/=\-]+"
    r"|[rRbBuUfF]{{0,2}}(?:\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?)"
    r"|{bare})"
)
#: An unquoted value in text: everything up to a separator.
_BARE_TEXT = r"[^\s&,;\"'}\]]+"
#: An unquoted value in source code is a name or an expression, never a secret, unless a number.
_BARE_CODE = r"[0-9][^\s&,;\"'}\])]*"
#: Values that say there is no secret: not remembered as secrets to hide elsewhere.
_NOT_SECRETS = frozenset(
    {"none", "null", "nil", "true", "false", "undefined", "empty", "unset", "enabled"}
    | {"disabled", "required", "optional", "default", "unknown", "redacted", "hidden", "masked"}
)
#: ``%`` conversions and ``{}`` fields of a template, to tell which argument a placeholder takes.
_PERCENT = re.compile(r"%(?:\(([^)\n]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?([a-zA-Z%])")
_BRACE = re.compile(r"\{\{|\}\}|\{(\w*)(?:[!:][^{}]*)?\}")
#: Values that start a credential the credentials pattern has already handled.
_SCHEMES = frozenset({"bearer", "basic", "token", "digest"})

#: Named default patterns and passes; each can be turned off with ``scrub_defaults_off``:
#: ``source_context`` leaves source lines (an event's frames, a line's stack trace) as
#: written; ``secret_repeats`` no longer hides a removed secret in the other places.
DEFAULT_PATTERNS = (
    "credit_card",
    "credentials_header",
    "url_password",
    "key_value",
    "source_context",
    "secret_repeats",
)

#: Cheap first look: a string holding none of these words (plus one of each secret key's
#: parts, per policy) and no card-length run of digits is left alone.
_TRIGGER_WORDS = ("bearer", "basic", "token", "digest", "://")
#: Thirteen characters of digits, spaces and dashes from a digit on: every card number
#: (13 digits or more, single spaces or dashes between) holds such a run. Written to
#: start with a digit, and without a choice to backtrack into, so that the search
#: skips fast over text.
_CARD_RUN = re.compile(r"[0-9][0-9 -]{12}")
_CARD_LENGTH = 13
_ANY_DIGITS = r"(?:\d[ -]?){12}\d"
#: Leaves with nothing to scrub, answered without a walk.
_ATOMS = frozenset({int, float, bool, type(None)})
_CONTAINERS = (Mapping, list, tuple, set, frozenset)
_KEY_CACHE_SIZE = 4096
_TEXT_CACHE_SIZE = 4096
_TEXT_CACHE_LENGTH = 256
#: At most this many texts' removed secrets are remembered; the table starts over when full.
_FOUND_CACHE_SIZE = 1024
#: An int or float below 10**12 in magnitude holds no card number (13+ digits).
_NUMBER_TEXT = 12
_NUMBER_CHARS = frozenset("0123456789+-.einfa")
#: Twelve digits: no default pattern can change it (a card number has thirteen or more).
_NUMBER_PROBE = "412345678901"
#: Keys whose hex values are the protocol's trace and span ids, written as they are.
_ID_KEYS = frozenset({"trace_id", "span_id", "parent_span_id"})
_HEX_ID = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{16})?")
#: A ``key=value`` pair of a query string or form body.
_QUERY_PAIR = re.compile(r"([^&=?#\s]+)=([^&#\s]*)")

_MARKER_BYTES = MARKER.encode()

_dump = orjson.dumps
_load = orjson.loads
#: Values orjson would write in a form of its own (a datetime, a dataclass, a str
#: subclass) make the dump fail instead: such an event is walked.
_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _dump_strict(value: Any) -> bytes:
    """JSON of plain JSON values only (str, int, float, bool, None, dict, list)."""
    return orjson.dumps(value, option=_PASSTHROUGH)


_SPLIT = re.compile(r"[^a-z0-9]+")
#: A secret that an int or float in an event may equal.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
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


# A rule: the match's replacement, and the text it removed ("" when none), for a secret
# seen in one place to be hidden wherever else it appears (see ScrubPolicy.hider).
Rule = Callable[["re.Match[str]"], tuple[str, str]]


def _scrub_card(match: re.Match[str]) -> tuple[str, str]:
    digits = re.sub(r"[ -]", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn(digits):
        return MARKER, match.group(0)
    return match.group(0), ""


def _scrub_credential(match: re.Match[str]) -> tuple[str, str]:
    if _WORD.fullmatch(match.group(2)):
        return match.group(0), ""
    return f"{match.group(1)} {MARKER}", match.group(2)


def _scrub_url_password(match: re.Match[str]) -> tuple[str, str]:
    prefix = match.group(1)
    return f"{prefix}{MARKER}@", match.group(0)[len(prefix) : -1]


def _scrub_key_value(match: re.Match[str]) -> tuple[str, str]:
    value = match.group(2)
    if match.group(3) is not None or value == MARKER:  # a template's placeholder
        return match.group(0), ""
    head, _, rest = value.partition(" ")
    if head.lower() in _SCHEMES:
        rest = rest.strip()
        if not rest or rest == MARKER:  # a credential the credentials rule has handled
            return match.group(0), ""
        return f"{match.group(1)}{head} {MARKER}", rest
    prefix = ""
    while len(value) > 1 and value[0] in "rRbBuUfF" and value[1] in "rRbBuUfF\"'":
        prefix += value[0]
        value = value[1:]
    quote = value[0] if value[0] in "\"'" else ""
    if quote:
        closed = len(value) > 1 and value.endswith(quote)
        inner = value[1:-1] if closed else value[1:]
        if MARKER in inner:  # a credential the credentials rule has handled
            inner = inner.replace(MARKER, "").strip()
            if not inner or inner.lower() in _SCHEMES:
                return match.group(0), ""
        return f"{match.group(1)}{prefix}{quote}{MARKER}{quote if closed else ''}", inner
    if value.endswith(")") and "(" not in value and len(value) > 1:
        # The call or the parenthesis the pair is written in closes: not part of the value.
        return f"{match.group(1)}{MARKER})", value[:-1]
    return f"{match.group(1)}{MARKER}", value


def _user_rule(match: re.Match[str]) -> tuple[str, str]:
    return MARKER, match.group(0)


#: Secrets shorter than this are not remembered at all; a field equal to one
#: at least this long is replaced whole.
HIDE_EXACT = 4
#: A secret at least this long is replaced wherever it appears inside a text:
#: shorter ones would blank ordinary words.
HIDE_INSIDE = 6
#: Top-level members of an event that name it rather than carry text from the application.
_EVENT_IDENTITY = frozenset(
    {
        "event_id",
        "timestamp",
        "start_timestamp",
        "level",
        "platform",
        "logger",
        "release",
        "environment",
        "dist",
        "server_name",
        "sdk",
        "type",
        "_meta",
        "modules",
        "debug_meta",
        "transaction_info",
    }
)
#: Members of an exception or thread that name a type or place, not text.
_EXCEPTION_IDENTITY = frozenset({"type", "module", "mechanism", "thread_id", "id", "stacktrace"})
#: Members of a frame that name a place in the code; its source lines and vars are text.
_FRAME_IDENTITY = frozenset(
    {"filename", "abs_path", "module", "function", "lineno", "colno", "in_app", "package"}
)
#: A frame's source lines.
_CONTEXT_LINES = ("pre_context", "context_line", "post_context")


class Hider:
    """Hides a set of secrets in any text (see :meth:`ScrubPolicy.hider`)."""

    __slots__ = ("_exact", "_inside", "_sub", "long_needles", "short_needles")

    def __init__(self, exact: frozenset[str]) -> None:
        self._exact = exact
        self._inside = sorted((s for s in exact if len(s) >= HIDE_INSIDE), key=len, reverse=True)
        self._sub = re.compile("|".join(map(re.escape, self._inside))).sub
        #: What the JSON text of an event holding a secret holds: a long secret's
        #: escaped form (anywhere in a string), a short one's whole string or number.
        self.long_needles = tuple(_json_bytes(secret)[1:-1] for secret in self._inside)
        short: list[bytes] = []
        for secret in exact:
            if len(secret) < HIDE_INSIDE:
                short += [_json_bytes(secret), _json_bytes(f"'{secret}'")]
            if _NUMBER.fullmatch(secret):
                short.append(secret.encode())
        self.short_needles = tuple(short)

    def __call__(self, text: str) -> str:
        exact = self._exact
        if text in exact or (len(text) > 2 and text[0] in "'\"" and text[1:-1] in exact):
            return MARKER
        for secret in self._inside:  # a few secrets: ``in`` is faster than a regex search
            if secret in text:
                return self._sub(MARKER, text)
        return text


class ScrubPolicy:
    """Which keys and patterns are secret: one object behind Sentry events and JSON lines.

    Entry points, one per shape of output: :meth:`text` (a string: a message,
    a label, an exception's text), :meth:`code` (a line of source code),
    :meth:`value` (a structure, by key and by pattern), :meth:`event` (a
    whole Sentry event), and :meth:`hider` (a secret removed from one place
    of an event or line, hidden in every other). Every entry point never
    raises: what cannot be scrubbed becomes :data:`MARKER` and is counted in
    :attr:`counts` (``scrub_errors``), which ``stats()`` reports.
    """

    def __init__(
        self,
        keys: Iterable[str] = (),
        patterns: Iterable[str] = (),
        defaults_off: Iterable[str] = (),
        literals: Iterable[str] = (),
    ) -> None:
        keys, patterns, defaults_off, literals = (
            tuple(keys),
            tuple(patterns),
            tuple(defaults_off),
            tuple(literals),
        )
        self._arguments = (keys, patterns, defaults_off, literals)
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
        #: Whether source lines are scrubbed, and removed secrets hidden everywhere.
        self.source_context = "source_context" not in off
        self.repeats = "secret_repeats" not in off
        self._compact = frozenset(w.replace("_", "") for w in words)
        self._rules: list[tuple[re.Pattern[str], Rule]] = []
        self._code_rules: list[tuple[re.Pattern[str], Rule]] = []
        if "credentials_header" not in off:
            self._both((_BEARER, _scrub_credential))
        if "url_password" not in off:
            self._both((_URL_PASSWORD, _scrub_url_password))
        if "key_value" not in off and words:
            spellings = "|".join(
                sorted(
                    ("[_-]?".join(re.escape(part) for part in word.split("_")) for word in words),
                    key=len,
                    reverse=True,
                )
            )
            for bare, rules in ((_BARE_TEXT, self._rules), (_BARE_CODE, self._code_rules)):
                pattern = _KEY_VALUE.format(keys=spellings, bare=bare)
                rules.append((re.compile(pattern, re.IGNORECASE), _scrub_key_value))
        if "credit_card" not in off:
            self._both((_CARD, _scrub_card))
        self._user_patterns = False
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"scrub_patterns: {pattern!r} is not a regex: {exc}") from None
            self._both((compiled, _user_rule))
            self._user_patterns = True
        self._literals = tuple(lit for lit in literals if lit and len(lit) >= 4)
        #: Whether :meth:`text` could change a string: a cheap test, never a false "no".
        self.may_change: Callable[[str], bool] = self._quick_test(_gate(words))
        #: Whether an int or float below 10**12 in magnitude is written as it is:
        #: no rule can change its text (the defaults find card numbers of 13+ digits).
        self.numbers_safe = self._numbers_safe()
        self._keys_seen: dict[str, bool] = {}
        self._texts_seen: dict[str, str] = {}
        self._code_seen: dict[str, str] = {}
        #: Text -> the secrets scrubbing it removed, for texts that had any.
        self._found_seen: dict[tuple[bool, str], tuple[str, ...]] = {}
        self._queries_seen: dict[str, str] = {}
        # The last long text scrubbed and its result: a stack trace formatted
        # by several handlers is scrubbed once.
        self._last: tuple[str, str] = ("", "")
        #: Events whose before_send raised (sent scrubbed, unchanged by it),
        #: events that could not be scrubbed (not sent: a secret must not
        #: leave), and values that could not be (sent as the marker).
        self.counts: collections.Counter[str] = collections.Counter()

    def __reduce__(self) -> tuple[type[ScrubPolicy], tuple[tuple[str, ...], ...]]:
        """Pickled as its options: a process started by spawn or forkserver (loguru's
        ``enqueue=True`` hands the sinks to it) builds the same policy, with tables and
        counts of its own and no secret remembered from this one."""
        return (ScrubPolicy, self._arguments)

    def forget(self) -> None:
        """Empty the tables of answers remembered (the secrets among them too)."""
        for table in (
            self._keys_seen,
            self._texts_seen,
            self._code_seen,
            self._found_seen,
            self._queries_seen,
        ):
            table.clear()
        self._last = ("", "")

    def _both(self, rule: tuple[re.Pattern[str], Rule]) -> None:
        self._rules.append(rule)
        self._code_rules.append(rule)

    @staticmethod
    def _normal(key: str) -> str:
        return "_".join(p for p in _SPLIT.split(_CAMEL.sub(r"\1_\2", key).lower()) if p)

    def _numbers_safe(self) -> bool:
        if self._user_patterns or self.may_change(_NUMBER_PROBE):
            return False
        return all(
            len(lit) > _NUMBER_TEXT or not set(lit) <= _NUMBER_CHARS for lit in self._literals
        )

    def secret_key(self, key: object) -> bool:
        """Whether values under *key* are secret (answers are remembered per key)."""
        if not isinstance(key, str):
            return False
        known = self._keys_seen.get(key)
        if known is not None:
            return known
        try:
            normal = self._normal(key)
        except Exception:  # a str subclass that misbehaves
            return False
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
        card_search = _CARD_RUN.search
        # Case folding beyond ASCII: the expression itself, case-insensitive.
        trigger_search = re.compile(
            "|".join([*(re.escape(word) for word in gate), _ANY_DIGITS]), re.IGNORECASE
        ).search

        def may_change(value: str) -> bool:
            if not value.isascii():
                return trigger_search(value) is not None
            if gate_search(value.lower()) is not None:
                return True
            return len(value) >= _CARD_LENGTH and card_search(value) is not None

        if not literals:
            return may_change

        def may_change_or_literal(value: str) -> bool:
            for literal in literals:
                if literal in value:
                    return True
            return may_change(value)

        return may_change_or_literal

    # -- strings -------------------------------------------------------------

    def text(self, value: str) -> str:
        """*value* with every secret the patterns find replaced; never raises.

        Short strings' answers are remembered (a bounded table): an event's
        breadcrumbs and frame variables come again in the next event, a
        label's value in the next line.
        """
        try:
            known = self._texts_seen.get(value)
        except Exception:  # a str subclass whose hash raises
            known = None
        return known if known is not None else self._answer(value, self._texts_seen, False)

    def code(self, line: str) -> str:
        """A line of source code scrubbed: a secret's name followed by a literal loses it.

        An unquoted value in code is a name or an expression
        (``password = os.environ["PW"]``) and stays, unless it is a number.
        """
        if not self.source_context:
            return line
        try:
            known = self._code_seen.get(line)
        except Exception:
            known = None
        return known if known is not None else self._answer(line, self._code_seen, True)

    def _answer(self, value: str, table: dict[str, str], code: bool) -> str:
        """:meth:`text` or :meth:`code` of a string not in *table*, remembered there if short."""
        try:
            result = self._scrubbed(value, code) if self.may_change(value) else value
            if len(value) <= _TEXT_CACHE_LENGTH:
                if len(table) >= _TEXT_CACHE_SIZE:
                    table.clear()
                table[value] = result
        except Exception:
            self.counts["scrub_errors"] += 1
            return MARKER  # a string that cannot be checked is not written
        return result

    def long_text(self, value: str) -> str:
        """:meth:`text` for a long string that may come again right away (a stack trace)."""
        last = self._last
        if last[0] is value:
            return last[1]
        result = self.text(value)
        self._last = (value, result)
        return result

    def _scrubbed(self, value: str, code: bool) -> str:
        """Every rule applied; the secrets removed are remembered for :meth:`found`."""
        raw = value
        found: list[str] = []
        for literal in self._literals:
            if literal in value:
                value_before = value
                value = value.replace(literal, MARKER)
                if value != value_before:
                    found.append(literal)
        for pattern, rule in self._code_rules if code else self._rules:

            def apply(match: re.Match[str], rule: Rule = rule) -> str:
                replacement, secret = rule(match)
                if secret:
                    found.append(secret)
                return replacement

            value = pattern.sub(apply, value)
        if found:
            seen = self._found_seen
            if len(seen) >= _FOUND_CACHE_SIZE:
                seen.clear()
            seen[(code, raw)] = tuple(found)
        return value

    def found(self, value: str, into: set[str], code: bool = False) -> str:
        """:meth:`text` (or :meth:`code`) of *value*, adding the secrets it removed to *into*."""
        result = self.code(value) if code else self.text(value)
        if result is not value and result != value:
            self._add_found(value, code, into)
        return result

    def _add_found(self, value: str, code: bool, into: set[str]) -> None:
        """The secrets scrubbing *value* removed, into *into* (scrubbed again if forgotten)."""
        try:
            secrets = self._found_seen.get((code, value))
            if secrets is None:
                self._scrubbed(value, code)
                secrets = self._found_seen.get((code, value), ())
            into.update(secrets)
        except Exception:
            self.counts["scrub_errors"] += 1

    # -- structures ----------------------------------------------------------

    def value(
        self,
        value: Any,
        depth: int = 0,
        active: Optional[set[int]] = None,
        found: Optional[set[str]] = None,
    ) -> Any:
        """A scrubbed copy of *value*: mappings and sequences at every depth, strings by pattern.

        Other objects become their ``repr`` scrubbed as text (the form an
        event would carry); one whose ``repr`` raises becomes the marker.
        With *found*, the secrets removed (texts, and every value under a
        secret key) are added to it. Never raises.
        """
        kind = type(value)
        if kind in _ATOMS:
            return value
        try:
            if kind is str or isinstance(value, str):
                return self.text(value) if found is None else self.found(value, found)
            if depth >= _MAX_DEPTH:
                return MARKER
            if not (kind is dict or kind is list or isinstance(value, _CONTAINERS)):
                # sentry-sdk writes it as its repr: scrubbed here, kept when nothing changes.
                text = _repr(value)
                scrubbed = self.text(text) if found is None else self.found(text, found)
                return value if scrubbed == text and kind is bytes else scrubbed
            active = set() if active is None else active
            if id(value) in active:
                return "<cycle>"
            active.add(id(value))
            try:
                if kind is dict or isinstance(value, Mapping):
                    return self._mapping(value, depth + 1, active, found)
                return [self.value(item, depth + 1, active, found) for item in value]
            finally:
                active.discard(id(value))
        except Exception:
            self.counts["scrub_errors"] += 1
            return MARKER

    def _mapping(
        self,
        value: Mapping[Any, Any],
        depth: int,
        active: set[int],
        found: Optional[set[str]],
    ) -> dict[Any, Any]:
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
                if found is not None:
                    _leaves(item, found, 0)
            elif kind is str:
                if key in _ID_KEYS and _HEX_ID.fullmatch(item):
                    # A trace or span id: random hex, which may hold a run of
                    # digits that passes for a card number (1 in ~450).
                    result[key] = item
                    continue
                text = texts_seen.get(item)
                if text is None:
                    text = self.text(item)
                if found is not None and text is not item and text != item:
                    self._add_found(item, False, found)
                result[key] = text
            elif kind in _ATOMS:
                result[key] = item
            else:
                result[key] = self.value(item, depth, active, found)
        return result

    # -- one secret, hidden everywhere ---------------------------------------

    @staticmethod
    def secrets_under_key(value: Any, into: set[str]) -> None:
        """Every leaf of *value*, a value under a secret key, as a secret into *into*."""
        _leaves(value, into, 0)

    def hider(self, secrets: Iterable[str]) -> Optional[Hider]:
        """A function hiding *secrets* in any text, or None when none is worth hiding.

        A text equal to a secret of at least :data:`HIDE_EXACT` characters
        (quotes around it aside: a frame variable is its ``repr``) becomes
        the marker; a secret of at least :data:`HIDE_INSIDE` characters is
        replaced wherever it appears inside a text. Shorter ones would blank
        ordinary words and numbers.
        """
        exact = frozenset(
            s
            for s in secrets
            if type(s) is str
            and len(s) >= HIDE_EXACT
            and MARKER not in s
            and s.lower() not in _NOT_SECRETS
        )
        if not exact:
            return None
        return Hider(exact)

    # -- events --------------------------------------------------------------

    def event(
        self, event: dict[str, Any], send_default_pii: Optional[bool] = None
    ) -> dict[str, Any]:
        """Scrub a Sentry event in place (it is ours: built for this send) and return it.

        Every place an event carries text passes the rules (docs/architecture.md
        lists them); then each secret removed from one place is hidden in
        every other (:meth:`hider`). Without *send_default_pii* (``None``: as
        the running client says) the user's e-mail and IP address, the
        client's address, cookies and the request body are personal data and
        go too.
        """
        if send_default_pii is None:
            send_default_pii = _client_sends_pii()
        found: set[str] = set()
        logentry = event.get("logentry")
        for part in ("extra", "contexts", "user", "tags", "logentry", "request", "fingerprint"):
            if part in event and event[part] is not None:
                event[part] = self.value(event[part], found=found)
        for part in ("message", "transaction"):
            if isinstance(event.get(part), str):
                event[part] = self.found(event[part], found)
        if isinstance(logentry, dict) and isinstance(event.get("logentry"), dict):
            self._params(logentry, event["logentry"])
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
            crumbs["values"] = self.value(crumbs["values"], found=found)
        for container in ("exception", "threads"):
            for item in _dicts(_member(event.get(container), "values")):
                if isinstance(item.get("value"), str):
                    item["value"] = self.found(item["value"], found)
                for frame in _dicts(_member(item.get("stacktrace"), "frames")):
                    if isinstance(frame.get("vars"), dict):
                        frame["vars"] = self.value(frame["vars"], found=found)
                    if self.source_context:
                        self._frame_source(frame, found)
        spans = event.get("spans")
        if isinstance(spans, list):  # a transaction's: their data and descriptions
            for span in spans:
                if isinstance(span, dict):
                    if isinstance(span.get("data"), dict):
                        span["data"] = self.value(span["data"], found=found)
                    if isinstance(span.get("description"), str):
                        span["description"] = self.found(span["description"], found)
        hide = self.hider(found) if found and self.repeats else None
        if hide is not None:
            _hide_repeats(event, hide)
        return event

    def _frame_source(self, frame: dict[str, Any], found: set[str]) -> None:
        """A frame's source lines, read as code (remembered answers looked up in place)."""
        seen = self._code_seen
        for name in _CONTEXT_LINES:
            lines = frame.get(name)
            if isinstance(lines, str):
                frame[name] = self.found(lines, found, code=True)
            elif isinstance(lines, list):
                out = []
                for line in lines:
                    if type(line) is str:
                        known = seen.get(line)
                        if known is None:
                            known = self.code(line)
                        if known is not line and known != line:
                            self._add_found(line, True, found)
                        out.append(known)
                    else:
                        out.append(line)
                frame[name] = out

    def _params(self, raw: dict[str, Any], scrubbed: dict[str, Any]) -> None:
        """A parameter a placeholder under a secret key takes is the marker, whatever its length.

        ``password=%s`` with ``"abc"``: the formatted message hides it, so
        must ``params``.
        """
        params = scrubbed.get("params")
        template = raw.get("message")
        if not params or not isinstance(template, str):
            return
        taken = self.secret_arguments(template)
        if not taken:
            return
        if isinstance(params, list):
            for index in taken:
                if type(index) is int and index < len(params):
                    params[index] = MARKER
        elif isinstance(params, dict):
            for name in taken:
                if name in params:
                    params[name] = MARKER

    def secret_arguments(self, template: str) -> set[Any]:
        """Which arguments of *template* its placeholders under a secret key take.

        Positions (int) for ``%s`` and ``{}``/``{0}``; names (str) for
        ``%(name)s`` and ``{name}``.
        """
        places: set[int] = set()
        for pattern, rule in self._rules:
            if rule is _scrub_key_value and self.may_change(template):
                for match in pattern.finditer(template):
                    if match.group(3) is not None:
                        places.add(match.start(2))
        if not places:
            return set()
        taken: set[Any] = set()
        index = 0
        for conversion in _PERCENT.finditer(template):
            if conversion.group(2) == "%":
                continue
            if conversion.start() in places:
                name = conversion.group(1)
                taken.add(index if name is None else name)
            index += 1
        index = 0
        for brace in _BRACE.finditer(template):
            field_name = brace.group(1)
            if field_name is None:  # an escaped brace
                continue
            if brace.start() in places:
                if field_name == "":
                    taken.add(index)
                else:
                    taken.add(int(field_name) if field_name.isdigit() else field_name)
            if field_name == "":
                index += 1
        return taken

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


def _repr(value: Any) -> str:
    """``repr(value)``, which must be a string."""
    text = repr(value)
    if type(text) is not str:
        raise TypeError("repr() did not return a string")
    return text


def _leaves(value: Any, into: set[str], depth: int) -> None:
    """The text of every leaf of *value* (a value under a secret key), into *into*."""
    kind = type(value)
    if kind is str:
        into.add(value)
    elif kind is int or kind is float:
        into.add(repr(value))
    elif depth < _MAX_DEPTH:
        try:
            if isinstance(value, Mapping):
                for item in value.values():
                    _leaves(item, into, depth + 1)
            elif isinstance(value, (list, tuple, set, frozenset)):
                for item in value:
                    _leaves(item, into, depth + 1)
        except Exception:  # noqa: S110 - the value itself is the marker already
            pass


def hide_in(value: Any, hide: Callable[[str], str], numbers: bool = True, depth: int = 0) -> Any:
    """*value* with *hide* applied to every string in it (trace and span ids aside).

    With *numbers*, an int or float equal to a secret becomes the marker too;
    a JSON line passes False: a declared number field keeps its type.
    """
    kind = type(value)
    if kind is str:
        return hide(value)
    if kind is int or kind is float:
        return MARKER if numbers and hide(repr(value)) == MARKER else value
    if depth >= _MAX_DEPTH:
        return value
    if kind is dict:
        return {
            key: item if key in _ID_KEYS else hide_in(item, hide, numbers, depth + 1)
            for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [hide_in(item, hide, numbers, depth + 1) for item in value]
    return value


def _json_bytes(value: str) -> bytes:
    return _dump(value)


def _hide_repeats(event: dict[str, Any], hide: Hider) -> None:
    """Hide *hide*'s secrets everywhere in *event*, in place.

    An event made of JSON values only (as sentry-sdk hands it to
    ``before_send``) is dumped once (orjson: a few microseconds): most hold a
    removed secret only where it was removed and are done after an ``in``
    test; a long secret still there is replaced in the text, which is read
    back with the members naming the event restored. A short secret found
    again (only a whole field equal to it is hidden), or an event that is not
    JSON values only (an application client's processor sees raw objects),
    is walked instead.
    """
    try:
        text = _dump_strict(event)
    except Exception:  # not JSON values only, lone surrogates, a cycle
        _hide_event(event, hide)
        return
    if any(needle in text for needle in hide.short_needles):
        _hide_event(event, hide)
        return
    hits = [needle for needle in hide.long_needles if needle in text]
    if not hits:
        return
    for needle in hits:
        text = text.replace(needle, _MARKER_BYTES)
    try:
        document = _load(text)
    except ValueError:  # a secret that spans JSON punctuation: walk instead
        _hide_event(event, hide)
        return
    if not isinstance(document, dict):  # pragma: no cover - a dict dumps to an object
        _hide_event(event, hide)
        return
    for name in _EVENT_IDENTITY:
        if name in event:
            document[name] = event[name]
    trace = _member(_member(event.get("contexts"), "trace"), "trace_id")
    if trace is not None:
        for key in _ID_KEYS:
            if key in event["contexts"]["trace"]:
                document["contexts"]["trace"][key] = event["contexts"]["trace"][key]
    event.clear()
    event.update(document)


def _hide_event(event: dict[str, Any], hide: Callable[[str], str]) -> None:
    """Hide the event's secrets in every member that carries text (not in those naming it)."""
    for name in list(event):
        if name in _EVENT_IDENTITY:
            continue
        if name in ("exception", "threads"):
            for item in _dicts(_member(event[name], "values")):
                for key in list(item):
                    if key not in _EXCEPTION_IDENTITY:
                        item[key] = hide_in(item[key], hide)
                for frame in _dicts(_member(item.get("stacktrace"), "frames")):
                    for key in list(frame):
                        if key not in _FRAME_IDENTITY:
                            frame[key] = hide_in(frame[key], hide)
            continue
        event[name] = hide_in(event[name], hide)


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
