"""The renderer: record-like data -> a type-stable ECS document -> one JSON line.

Front doors (the stdlib ``JsonFormatter``, loguru's ``LoguruJsonFormat``)
take what they need from their own record type and call :meth:`Renderer.line`
(or :meth:`Renderer.render`, with keyword arguments); everything about types,
keys, limits and encoding happens here, once for all of them, and so does the
validation of their shared options (:func:`build_renderer`).

Every value leaves with the JSON type :mod:`._schema` gives its path:
declared fields are converted to their declared type (or kept as a string in
their companion field), every undeclared extra becomes a string under
``labels``, and no input, however hostile, makes :meth:`Renderer.render`
raise: a document that cannot be built falls back to a minimal line.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import linecache
import math
import re
import socket
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from datetime import date, datetime, timezone
from decimal import Decimal
from types import TracebackType
from typing import Any, Callable, Optional, Union

from sentry_logging_std._options import scrub_policy as policy_of
from sentry_logging_std._schema import COMPANION_SUFFIX, ECS_VERSION, Field, Schema, parse_fields
from sentry_logging_std._scrub import MARKER, ScrubPolicy, hide_in

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "ExcInfo",
    "PickledAsArguments",
    "Renderer",
    "build_renderer",
    "check_defaults",
    "current_trace",
    "format_exception_chain",
    "optional_str",
    "safe_str",
    "trace_of",
]


ExcInfo = tuple[Any, Any, Any]
Trace = tuple[str, str, Optional[str]]

#: Default cut-off, in characters, for any string value in a line.
DEFAULT_MAX_LENGTH = 32_768
#: The smallest max_length accepted: the cut marker has to fit.
MIN_MAX_LENGTH = 100
#: Label keys are cut to this many characters.
MAX_KEY_LENGTH = 256
#: Nested extras deeper than this become their str().
MAX_DEPTH = 16

#: With scrubbing, numbers this large or larger are written as text and
#: scrubbed as text: thirteen digits or more could be a card number.
_PLAIN_INT = 10**12

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_INT_RE = re.compile(r"[+-]?[0-9]{1,40}", re.ASCII)
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,5})?", re.ASCII)

# ---------------------------------------------------------------------------
# Values to strings: never raises.


def safe_str(value: object) -> str:
    """str(value), else repr(value), else a placeholder naming the type."""
    for convert in (str, repr):
        try:
            text = convert(value)
        except Exception:  # noqa: S112 - the next fallback follows
            continue
        if type(text) is str:
            return text
    try:
        name = type(value).__qualname__
    except Exception:  # pragma: no cover - a type always has a name
        name = "object"
    return f"<unprintable {name}>"


def cut(text: str, limit: int) -> str:
    """*text* cut to at most *limit* characters, ending with a marker when cut."""
    if len(text) <= limit:
        return text
    keep = limit - 40
    return f"{text[:keep]}...[{len(text) - keep} characters cut]"


def cut_middle(text: str, limit: int) -> str:
    """*text* cut in the middle to at most *limit* characters: both ends matter."""
    if len(text) <= limit:
        return text
    keep = limit - 40
    head = keep // 2
    tail = keep - head
    return f"{text[:head]}\n...[{len(text) - keep} characters cut]...\n{text[-tail:]}"


class _Budget:
    """How many more nodes a nested value may contribute."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def _plain(
    value: Any, depth: int, active: set[int], budget: _Budget, scrub: Optional[ScrubPolicy]
) -> Any:
    """A JSON-safe copy of a nested value: str keys, finite floats, 64-bit ints.

    With *scrub*, secrets are replaced at every depth: the value of a secret
    key (unless None) and whatever the patterns find in a string leaf.
    """
    budget.left -= 1
    t = type(value)
    if t is str:
        return value if scrub is None else scrub.text(value)
    if t is bool or value is None:
        return value
    if t is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            return _leaf_text(value, scrub)
        if scrub is None or -_PLAIN_INT < value < _PLAIN_INT:
            return value
        return _number(value, str(value), scrub)
    if t is float:
        if not math.isfinite(value):
            return repr(value)
        if scrub is None or -_PLAIN_INT < value < _PLAIN_INT:
            return value
        return _number(value, repr(value), scrub)
    if t is dict or t is list or t is tuple or (scrub is not None and _is_mapping(value)):
        if depth >= MAX_DEPTH:
            return _leaf_text(value, scrub)
        marker = id(value)
        if marker in active:
            return "<cycle>"
        active.add(marker)
        try:
            if t is list or t is tuple:
                items = []
                for item in value:
                    if budget.left <= 0:
                        items.append("<cut>")
                        break
                    items.append(_plain(item, depth + 1, active, budget, scrub))
                return items
            out: dict[str, Any] = {}
            for key, item in value.items():
                if budget.left <= 0:
                    out["..."] = "<cut>"
                    break
                name = key if type(key) is str else safe_str(key)
                if scrub is not None and item is not None and scrub.secret_key(key):
                    budget.left -= 1
                    out[name] = MARKER
                else:
                    out[name] = _plain(item, depth + 1, active, budget, scrub)
            return out
        finally:
            active.discard(marker)
    return _leaf_text(value, scrub)


def _is_mapping(value: Any) -> bool:
    try:
        return isinstance(value, Mapping)
    except Exception:
        return False


def _number(value: Any, text: str, scrub: ScrubPolicy) -> Any:
    """A large number as it is, or the marker when its digits are a secret (a card number)."""
    scrubbed = scrub.text(text)
    return value if scrubbed == text else scrubbed


def _leaf_text(value: Any, scrub: Optional[ScrubPolicy]) -> str:
    text = safe_str(value)
    return text if scrub is None else scrub.text(text)


def value_text(value: Any, limit: int, scrub: Optional[ScrubPolicy] = None) -> str:
    """Any value as the string a label or keyword field carries.

    Strings stay as they are; numbers as Python writes them (nan, inf, and
    ints of any size); booleans and None as JSON writes them (true, null);
    dicts, lists and tuples become JSON text; everything else its str().
    With *scrub*, secrets are replaced (at every depth of a nested value)
    before the text is cut to *limit*.
    """
    t = type(value)
    if t is str:
        text = value
    elif t is bool:
        return "true" if value else "false"
    elif t is int:
        text = safe_str(value)
    elif t is float:
        text = repr(value)
    elif value is None:
        return "null"
    elif t is dict or t is list or t is tuple or (scrub is not None and _is_mapping(value)):
        text = _dumps(_plain(value, 0, set(), _Budget(limit), scrub))
        scrub = None  # its leaves are scrubbed
    else:
        text = safe_str(value)
    if scrub is not None:
        text = scrub.text(text)
    return text if len(text) <= limit else cut(text, limit)


# ---------------------------------------------------------------------------
# Declared fields: convert to the declared type, or None when that cannot be done.

Converter = Callable[[Any], Any]


def _to_int(value: Any) -> Optional[int]:
    t = type(value)
    if t is int:
        return int(value)
    if t is bool:
        return None
    if t is float:
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        return int(text) if _INT_RE.fullmatch(text) else None
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__index__(value)
    return None


def _to_float(value: Any) -> Optional[float]:
    t = type(value)
    if t is float:
        return float(value)
    if t is bool:
        return None
    if t is int or (isinstance(value, int) and not isinstance(value, bool)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        return float(text) if _FLOAT_RE.fullmatch(text) else None
    if isinstance(value, (Decimal, float)):
        return float(value)
    return None


def _integer_converter(low: int, high: int) -> Converter:
    def convert(value: Any) -> Optional[int]:
        number = _to_int(value)
        if number is None or not low <= number <= high:
            return None
        return number

    return convert


def _float_converter(largest: float) -> Converter:
    def convert(value: Any) -> Optional[float]:
        try:
            number = _to_float(value)
        except (OverflowError, ValueError):
            return None
        if number is None or not math.isfinite(number) or abs(number) > largest:
            return None
        return number

    return convert


def _to_bool(value: Any) -> Optional[bool]:
    t = type(value)
    if t is bool:
        return value is True
    if t is int and value in (0, 1):
        return bool(value == 1)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return text == "true"
    return None


_EPOCH_MAX = 253402300799  # 9999-12-31T23:59:59Z


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z: what every date field carries."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _to_date(value: Any) -> Optional[str]:
    moment: Optional[datetime] = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (isinstance(value, int) or math.isfinite(value)) or not (0 <= value <= _EPOCH_MAX):
            return None
        moment = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment is None:
        return None
    if moment.tzinfo is not None:
        offset = moment.utcoffset()
        if offset is None:
            moment = moment.replace(tzinfo=None)
        else:
            try:
                moment = (moment - offset).replace(tzinfo=None)
            except OverflowError:
                return None
    return format_utc(moment)


def _to_ip(value: Any) -> Optional[str]:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        address: Union[ipaddress.IPv4Address, ipaddress.IPv6Address] = value
    elif isinstance(value, str):
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
    else:
        return None
    if getattr(address, "scope_id", None):
        return None  # Elasticsearch does not accept a zone index
    return str(address)


def converter_for(field: Field, limit: int) -> Converter:
    """The function turning a declared field's value into its type (None: cannot)."""
    es_type = field.type
    kind = es_type.kind
    if kind == "string":
        return lambda value: value_text(value, limit)
    if kind == "integer":
        assert isinstance(es_type.low, int)
        assert isinstance(es_type.high, int)
        return _integer_converter(es_type.low, es_type.high)
    if kind == "float":
        assert es_type.high is not None
        return _float_converter(float(es_type.high))
    if kind == "boolean":
        return _to_bool
    if kind == "date":
        return _to_date
    if kind == "ip":
        return _to_ip
    raise AssertionError(f"no converter for {kind}")  # pragma: no cover


# ---------------------------------------------------------------------------
# Exceptions: the chain as Python prints it, rendered once per exception.

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_RECURSIVE_CUTOFF = 3  # as the traceback module: repeated frames beyond this are counted

# Exception groups (3.11+) have a layout of their own: the stdlib renders them.
_group_types: tuple[type, ...] = tuple(
    t for t in (getattr(builtins, "BaseExceptionGroup", None),) if isinstance(t, type)
)


def exception_type_name(exc_type: Any) -> str:
    """The exception's type as tracebacks name it: module.qualname, bare for builtins."""
    try:
        name = exc_type.__qualname__
        module = exc_type.__module__
    except Exception:
        return safe_str(exc_type)
    if not isinstance(name, str):
        name = safe_str(name)
    if module not in ("__main__", "builtins"):
        name = f"{module if isinstance(module, str) else '<unknown>'}.{name}"
    return name


def _exception_line(exc: BaseException, scrub: Optional[ScrubPolicy]) -> str:
    name = exception_type_name(type(exc))
    try:
        text = str(exc)
    except Exception:
        text = "<exception str() failed>"
    if scrub is not None and type(text) is str:
        text = scrub.text(text)
    return f"{name}: {text}\n" if text else f"{name}\n"


def _stack_lines(tb: Optional[TracebackType], out: list[str], scrub: Optional[ScrubPolicy]) -> None:
    last: Optional[tuple[str, int, str]] = None
    count = 0
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        lineno = tb.tb_lineno
        key = (code.co_filename, lineno, code.co_name)
        if key != last:
            if count > _RECURSIVE_CUTOFF:
                more = count - _RECURSIVE_CUTOFF
                out.append(
                    f"  [Previous line repeated {more} more time{'s' if more > 1 else ''}]\n"
                )
            last = key
            count = 0
        count += 1
        if count <= _RECURSIVE_CUTOFF:
            out.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
            source = linecache.getline(code.co_filename, lineno, frame.f_globals).strip()
            if source:
                out.append(f"    {source if scrub is None else scrub.code(source)}\n")
        tb = tb.tb_next
    if count > _RECURSIVE_CUTOFF:
        more = count - _RECURSIVE_CUTOFF
        out.append(f"  [Previous line repeated {more} more time{'s' if more > 1 else ''}]\n")


def _chain(exc: BaseException, tb: Optional[TracebackType]) -> Optional[list[Any]]:
    """[(message, exception, traceback)], innermost cause first; None: needs the stdlib."""
    links: list[Any] = [(None, exc, tb)]
    seen = {id(exc)}
    current = exc
    while True:
        if (
            isinstance(current, (SyntaxError, *_group_types))
            or getattr(current, "__notes__", None) is not None
        ):
            return None
        cause = current.__cause__
        if cause is not None and id(cause) not in seen:
            message, current = _CAUSE, cause
        else:
            context = current.__context__
            if context is None or current.__suppress_context__ or id(context) in seen:
                break
            message, current = _CONTEXT, context
        seen.add(id(current))
        links.append((message, current, current.__traceback__))
    links.reverse()
    return links


def _render_chain(
    exc_type: Any, exc: BaseException, tb: Optional[TracebackType], scrub: Optional[ScrubPolicy]
) -> str:
    links = None if getattr(sys, "tracebacklimit", None) is not None else _chain(exc, tb)
    if links is None:
        # Groups, syntax errors, notes and tracebacklimit: exactly as the stdlib
        # does them, then scrubbed as a whole.
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        return text if scrub is None else scrub.text(text)
    out: list[str] = []
    following: Optional[str] = None
    for message, link, link_tb in links:
        if following is not None:
            out.append(following)
        if link_tb is not None:
            out.append("Traceback (most recent call last):\n")
            _stack_lines(link_tb, out, scrub)
        out.append(_exception_line(link, scrub))
        following = message
    return "".join(out)


# Rendered chains, keyed by the record they belong to (exceptions cannot be
# weakly referenced; records can): every handler formatting the same record
# reuses the text, without writing it onto the record (stdlib's
# ``Formatter.format`` caches in ``record.exc_text``, which changes what every
# later handler sees). The entry remembers which exception it was rendered
# for, and with which scrubber, so a record whose exc_info was replaced, or
# a handler with another policy, renders it again.
_rendered: weakref.WeakKeyDictionary[Any, tuple[int, Optional[ScrubPolicy], str]] = (
    weakref.WeakKeyDictionary()
)
_rendered_lock = threading.Lock()


def format_exception_chain(
    exc_info: ExcInfo, key: Any = None, scrub: Optional[ScrubPolicy] = None
) -> str:
    """The whole chain as Python prints it, without the trailing newline.

    Caret lines (3.11+) are left out; syntax errors, exception groups and
    exceptions with notes are rendered by the traceback module itself. With a
    weak-referenceable *key* (the record), the text is rendered once per key.
    With *scrub*, the exception lines (the runtime data of a trace) are
    scrubbed; a chain the traceback module renders is scrubbed whole.
    """
    exc_type, exc, tb = exc_info
    if key is not None:
        try:
            with _rendered_lock:
                entry = _rendered.get(key)
        except TypeError:  # not weak-referenceable: no reuse
            key = entry = None
        if entry is not None and entry[0] == id(exc) and entry[1] is scrub:
            return entry[2]
    try:
        text = _render_chain(exc_type, exc, tb, scrub)
    except Exception:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        if scrub is not None:
            text = scrub.text(text)
    text = text.rstrip("\n")
    if key is not None:
        with _rendered_lock:
            _rendered[key] = (id(exc), scrub, text)
    return text


#: Members of a line that name the record, not text the application wrote.
_IDENTITY_MEMBERS = frozenset(
    {"@timestamp", "log", "process", "service", "host", "ecs"}
    | {"trace", "span", "transaction", "sentry"}
)
#: At most this many exceptions and frames are read for secrets to hide.
_MAX_CHAIN = 100
_MAX_FRAMES = 1000


def chain_texts(exc: BaseException) -> list[tuple[str, bool]]:
    """The texts of *exc*'s chain as (text, is source code): messages, then source lines."""
    texts: list[tuple[str, bool]] = []
    pending: list[Any] = [exc]
    seen: set[int] = set()
    frames = 0
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        texts.append((safe_str(current), False))
        tb = current.__traceback__
        while tb is not None and frames < _MAX_FRAMES:
            frames += 1
            code = tb.tb_frame.f_code
            source = linecache.getline(code.co_filename, tb.tb_lineno, tb.tb_frame.f_globals)
            if source.strip():
                texts.append((source.strip(), True))
            tb = tb.tb_next
        pending.extend((current.__cause__, current.__context__))
        group = getattr(current, "exceptions", None)
        if isinstance(group, (list, tuple)):
            pending.extend(group)
    return texts


# ---------------------------------------------------------------------------
# Trace ids from sentry-sdk's public API.


def current_trace() -> Optional[Trace]:
    """(trace id, span id, transaction id) of the active Sentry span, or None.

    Without sentry-sdk loaded no span can be active: a program that only
    writes JSON lines never imports it.
    """
    sdk = sys.modules.get("sentry_sdk")
    if sdk is None:
        return None
    try:
        span = sdk.Scope.get_current_scope().span
        return None if span is None else trace_of(span)
    except Exception:
        return None


def trace_of(span: Any) -> Optional[Trace]:
    """(trace id, span id, transaction id) of a sentry-sdk span, or None."""
    try:
        trace_id = span.trace_id
        span_id = span.span_id
        if type(trace_id) is not str or type(span_id) is not str:
            return None
        transaction = span.containing_transaction
        transaction_id = None if transaction is None else transaction.span_id
        if type(transaction_id) is not str:
            transaction_id = None
    except Exception:
        return None
    return trace_id, span_id, transaction_id


# ---------------------------------------------------------------------------
# Encoding.


def _fix_surrogates(value: Any) -> Any:
    """A copy with lone surrogates (from surrogateescape) replaced: UTF-8 cannot hold them."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    return value


def _dumps_stdlib(document: Any) -> str:
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(
            _fix_surrogates(document), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
    return text


def _encode_stdlib(document: Any) -> bytes:
    """Compact UTF-8 JSON from the json module: the document orjson would write."""
    return _dumps_stdlib(document).encode("utf-8")


Encoder = Callable[[Any], bytes]


def _pick_encoders() -> tuple[Encoder, Encoder]:
    """(fast, safe): orjson when it is installed (several times faster), else the json module.

    The fast encoder may raise TypeError (orjson: lone surrogates, which
    UTF-8 cannot hold); the safe one replaces them first and does not.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; the fallback is tested
        return _encode_stdlib, _encode_stdlib
    orjson_dumps = orjson.dumps

    def safe(document: Any) -> bytes:
        try:
            return orjson_dumps(document)
        except TypeError:  # orjson.JSONEncodeError: lone surrogates
            return orjson_dumps(_fix_surrogates(document))

    return orjson_dumps, safe


_encode, _encode_safe = _pick_encoders()


def _dumps(document: Any) -> str:
    """Compact JSON text for a document of plain types (str keys, finite floats)."""
    return _encode_safe(document).decode()


# ---------------------------------------------------------------------------
# The renderer.


def _put(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = document
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        node = child
    node[path[-1]] = value


_Declared = tuple[Converter, tuple[str, ...], tuple[str, ...], bool]


def _numbered(key: str, labels: Mapping[str, Any]) -> str:
    """*key* with the first free suffix _2, _3, ...: two keys became the same label."""
    number = 2
    while f"{key}_{number}" in labels:
        number += 1
    return f"{key}_{number}"


_MAX_CACHED_KEYS = 4096
_MAX_CACHED_LABELS = 4096
_MAX_CACHED_MESSAGES = 1024
_CACHED_MESSAGE = 256
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
_SMALL_INT = 10**18  # ints below this in magnitude print fast and safely

#: The JSON between the timestamp and the message (``","log":{...},"message":``),
#: after the message (``,"process":{...}``), and the latter followed by the
#: static members, for lines with no ``error``/``trace``/``sentry`` members.
_Head = tuple[str, str, str]


class _PolicySource:
    """Where a renderer without a policy of its own finds the process's (``scrub_policy``)."""

    scrub_policy: Optional[ScrubPolicy] = None


_default_policy: Optional[ScrubPolicy] = None


def default_policy() -> ScrubPolicy:
    """The policy with every default on: for lines when no handler configured one."""
    global _default_policy
    if _default_policy is None:
        _default_policy = ScrubPolicy()
    return _default_policy


class Renderer:
    """Turns one log record's data into one JSON line; configured once, used per record.

    A line is written as text, not as one document handed to the encoder:
    the parts that are the same on every line (``service``, ``host``,
    ``ecs``) are encoded once, the parts that repeat for every record from
    one call site and thread (``log``, ``process``) once per combination, and
    only what changes per record (the message, ``error``, trace ids, declared
    fields, ``labels``) is encoded per record. Every part is a JSON object
    member encoded by the same encoder, so the line is exactly what encoding
    the whole document would give, key order included (a property test
    checks it); for a plain record this costs about half of building the
    nested document and encoding it in one call.

    Scrubbing (:class:`._scrub.ScrubPolicy`): with *scrub_policy* the renderer uses
    that policy; without one it follows *policy_source*'s ``scrub_policy``
    (the policy of the process's Sentry front door), looked up per record,
    and the defaults while there is none; *scrub* False turns it off.
    """

    def __init__(
        self,
        *,
        schema: Schema,
        service_name: Optional[str] = None,
        service_environment: Optional[str] = None,
        service_version: Optional[str] = None,
        hostname: Optional[str] = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        exception_formatter: Optional[Callable[[ExcInfo], str]] = None,
        encode: Optional[Encoder] = None,
        skip: AbstractSet[Any] = frozenset(),
        scrub: bool = True,
        scrub_policy: Optional[ScrubPolicy] = None,
        policy_source: Any = None,
    ) -> None:
        self.schema = schema
        self.max_length = max_length
        service = {
            key: value_text(value, max_length)
            for key, value in (
                ("name", service_name),
                ("environment", service_environment),
                ("version", service_version),
            )
            if value is not None
        }
        if hostname is None:
            try:
                hostname = socket.gethostname()
            except Exception:  # pragma: no cover - no hostname on this system
                hostname = None
        # Fields that are the same on every line, encoded once.
        static: dict[str, Any] = {}
        if service:
            static["service"] = service
        if hostname:
            static["host"] = {"hostname": value_text(hostname, max_length)}
        static["ecs"] = {"version": ECS_VERSION}
        self._static = "," + _dumps(static)[1:-1]
        self._declared: dict[str, _Declared] = {
            field.name: (
                converter_for(field, max_length),
                field.path,
                (*field.path[:-1], field.path[-1] + COMPANION_SUFFIX),
                field.type.kind == "string",
            )
            for field in schema.declared
        }
        self._exception_formatter = exception_formatter
        #: The encoder tried first; on TypeError (lone surrogates) the line's
        #: parts are encoded again with the safe one.
        self._encode: Encoder = encode or _encode
        self._skip = frozenset(skip)
        # Label keys seen before: raw keys that had to change -> their safe
        # form, and raw keys that are labels as they are (safe, not skipped,
        # not declared, not secret), which the per-record loop recognises in
        # one lookup. The set is replaced when the scrubbing policy changes.
        self._keys: dict[str, str] = {}
        self._plain_keys: set[str] = set()
        # Short messages seen before -> their encoded (scrubbed, cut) text.
        self._messages: dict[str, str] = {}
        # Labels made before, by value: strings (short ones), ints and floats
        # (floats print slowly); replaced when the scrubbing policy changes.
        self._strs: dict[str, str] = {}
        self._ints: dict[int, str] = {}
        self._floats: dict[float, str] = {}
        # (level, logger, file, line, function, pid, thread) -> encoded head.
        self._heads: dict[tuple[Any, ...], _Head] = {}
        # The second of the last line: its start and its text.
        self._second: tuple[float, str] = (-math.inf, "")
        # Scrubbing: the scrubber in use; with _follow, the policy it was
        # made for (a sentinel until the first record).
        self.scrub = scrub
        self._source = policy_source if policy_source is not None else _PolicySource()
        self._follow = scrub and scrub_policy is None
        self._followed: Any = self  # no policy is the renderer itself
        self._scrubber: Optional[ScrubPolicy] = (
            scrub_policy if scrub and scrub_policy is not None else None
        )

    # -- scrubbing ---------------------------------------------------------

    def scrubber(self) -> Optional[ScrubPolicy]:
        """The scrubber for the next line (None: scrubbing is off)."""
        if self._follow and self._source.scrub_policy is not self._followed:
            return self._follow_policy()
        return self._scrubber

    def _follow_policy(self) -> ScrubPolicy:
        policy = self._source.scrub_policy
        scrubber = policy if isinstance(policy, ScrubPolicy) else default_policy()
        # Verdicts on label keys and scrubbed messages were the old policy's.
        self._plain_keys = set()
        self._messages = {}
        self._strs = {}
        self._ints = {}
        self._floats = {}
        self._scrubber = scrubber
        self._followed = policy
        return scrubber

    # -- pieces ------------------------------------------------------------

    def _timestamp(self, created: Any) -> str:
        try:
            second = math.floor(created)
            millis = int((created - second) * 1000)
        except Exception:
            second = -1
        if not 0 <= second <= _EPOCH_MAX:
            # A record with an impossible time still gets a valid one: now.
            now = time.time()
            second = math.floor(now)
            millis = int((now - second) * 1000)
        parts = time.gmtime(second)
        prefix = (
            f"{parts[0]:04d}-{parts[1]:02d}-{parts[2]:02d}T"
            f"{parts[3]:02d}:{parts[4]:02d}:{parts[5]:02d}"
        )
        self._second = (float(second), prefix)
        return prefix + _MILLIS[min(max(millis, 0), 999)]

    def _text(self, value: Any, scrub: Optional[ScrubPolicy] = None) -> str:
        if type(value) is str and scrub is None and len(value) <= self.max_length:
            return value
        return value_text(value, self.max_length, scrub)

    def _head(
        self,
        level: Any,
        logger: Any,
        file_name: Any,
        line: Any,
        function: Any,
        pid: Any,
        thread_name: Any,
    ) -> _Head:
        """The encoded ``log`` and ``process`` objects; each value checked."""
        text = self._text
        log: dict[str, Any] = {"level": text(level).lower(), "logger": text(logger)}
        origin: dict[str, Any] = {}
        if file_name is not None:
            origin["file"] = {"name": text(file_name)}
            if line.__class__ is int and 0 <= line <= _INT64_MAX:
                origin["file"]["line"] = line
        if function is not None:
            origin["function"] = text(function)
        if origin:
            log["origin"] = origin
        process: dict[str, Any] = {}
        if pid.__class__ is int and 0 <= pid <= _INT64_MAX:
            process["pid"] = pid
        if thread_name is not None:
            process["thread"] = {"name": text(thread_name)}
        after = f',"process":{_dumps(process)}' if process else ""
        return f'","log":{_dumps(log)},"message":', after, after + self._static

    def _error(
        self, exc_info: Any, stack_info: Any, key: Any, scrub: Optional[ScrubPolicy]
    ) -> Optional[dict[str, str]]:
        limit = self.max_length
        error: dict[str, str] = {}
        exc = exc_info[1] if type(exc_info) is tuple and len(exc_info) == 3 else None
        if isinstance(exc, BaseException):
            error["type"] = cut(exception_type_name(type(exc)), limit)
            try:
                message = str(exc)
            except Exception:
                message = "<exception str() failed>"
            error["message"] = self._text(message, scrub)
            try:
                if self._exception_formatter is None:
                    stack = format_exception_chain(exc_info, key, scrub)
                else:
                    stack = self._exception_formatter(exc_info)
                    if type(stack) is not str:
                        stack = safe_str(stack)
                    if scrub is not None:
                        stack = scrub.long_text(stack)
            except Exception:
                stack = "".join(traceback.format_exception(type(exc), exc, exc_info[2]))
                if scrub is not None:
                    stack = scrub.long_text(stack)
        else:
            stack = ""
        if stack_info:
            extra = stack_info if type(stack_info) is str else safe_str(stack_info)
            if scrub is not None:
                extra = scrub.long_text(extra)
            stack = f"{stack}\n{extra}" if stack else extra
        if stack:
            error["stack_trace"] = cut_middle(stack, limit)
        return error or None

    def _tail(
        self,
        exc_info: Any,
        stack_info: Any,
        cache_key: Any,
        trace: Optional[Trace],
        event_id: Optional[str],
        scrub: Optional[ScrubPolicy],
    ) -> dict[str, Any]:
        """The ``error``, ``trace``, ``span``, ``transaction`` and ``sentry`` members."""
        document: dict[str, Any] = {}
        if exc_info or stack_info:
            error = self._error(exc_info, stack_info, cache_key, scrub)
            if error is not None:
                document["error"] = error
        if trace is not None:
            document["trace"] = {"id": trace[0]}
            document["span"] = {"id": trace[1]}
            if trace[2] is not None:
                document["transaction"] = {"id": trace[2]}
        if event_id is not None:
            document["sentry"] = {"event_id": self._text(event_id)}
        return document

    def _label_key(self, key: Any, plain: set[str], scrub: Optional[ScrubPolicy]) -> str:
        """A labels key: no dots, not blank, at most MAX_KEY_LENGTH characters."""
        known = self._keys.get(key) if type(key) is str else None
        if known is not None:
            return known
        text = key if type(key) is str else safe_str(key)
        safe = text.replace(".", "_")
        if not safe.strip():
            safe = "_"
        safe = safe[:MAX_KEY_LENGTH]
        if type(key) is str:
            if len(self._keys) >= _MAX_CACHED_KEYS or len(plain) >= _MAX_CACHED_KEYS:
                self._keys.clear()
                plain.clear()
            if safe != key:
                self._keys[key] = safe
            elif scrub is None or not scrub.secret_key(key):
                plain.add(key)
        return safe

    def _labels(
        self, pairs: Iterable[tuple[Any, Any]], scrub: Optional[ScrubPolicy]
    ) -> tuple[Optional[dict[str, str]], Optional[dict[str, Any]]]:
        """(labels, declared fields): every undeclared extra as a string label.

        The common case costs one set lookup per key (a known plain key: safe
        as it is, not skipped, declared or secret) and one type test and one
        table lookup per value (a str, int or float whose label was made
        before); everything else takes the slower branches.
        """
        plain = self._plain_keys
        strs = self._strs
        ints = self._ints
        floats = self._floats
        labels: dict[str, str] = {}
        declared: Optional[dict[str, Any]] = None
        # Whether a key was changed to make it safe: only then can two keys clash.
        changed = False
        for key, value in pairs:
            if key not in plain:
                if key in self._skip:
                    continue
                spec = self._declared.get(key)
                if spec is not None:
                    if declared is None:
                        declared = {}
                    self._declare(declared, key, spec, value, scrub)
                    continue
                safe = self._label_key(key, plain, scrub)
                if safe != key:
                    changed = True
                if safe in labels:
                    safe = _numbered(safe, labels)
                if scrub is not None and value is not None and scrub.secret_key(key):
                    labels[safe] = MARKER
                    continue
                key = safe  # noqa: PLW2901 - the label key replaces the raw one
            elif changed and key in labels:
                key = _numbered(key, labels)  # noqa: PLW2901 - as above
            cls = value.__class__
            if cls is str:
                text = strs.get(value)
            elif cls is int:
                text = ints.get(value)
            elif cls is float:
                text = floats.get(value)
            else:
                text = None
            if text is None:
                text = self._label_text(value, scrub)
            labels[key] = text
        return labels or None, declared

    def _label_text(self, value: Any, scrub: Optional[ScrubPolicy]) -> str:
        """A label value's text (scrubbed, cut); a str, int or float one is remembered.

        Ints and floats below 10**12 in magnitude are written as they are
        when the policy has only its default patterns (they hold no card
        number); every other number is scrubbed as its text.
        """
        cls = value.__class__
        if cls is str:
            text = value if scrub is None else scrub.text(value)
            if len(text) > self.max_length:
                text = cut(text, self.max_length)
            if len(value) > _CACHED_MESSAGE:
                return text
            table: dict[Any, str] = self._strs
        elif cls is int and -_SMALL_INT < value < _SMALL_INT:
            text = str(value)
            if scrub is not None and not (scrub.numbers_safe and -_PLAIN_INT < value < _PLAIN_INT):
                text = scrub.text(text)
            table = self._ints
        elif cls is float:
            text = repr(value)
            if scrub is not None and not (scrub.numbers_safe and -_PLAIN_INT < value < _PLAIN_INT):
                text = scrub.text(text)
            # 0.0 and -0.0 are equal keys with two spellings; nan is not equal to itself.
            if not value or not math.isfinite(value):
                return text
            table = self._floats
        else:
            return value_text(value, self.max_length, scrub)
        # Remembered in a table that starts over when full.
        if len(table) >= _MAX_CACHED_LABELS:
            table.clear()
        table[value] = text
        return text

    def _declare(
        self,
        document: dict[str, Any],
        name: str,
        spec: _Declared,
        value: Any,
        scrub: Optional[ScrubPolicy],
    ) -> None:
        converter, path, companion, is_string = spec
        if scrub is not None and value is not None and scrub.secret_key(name):
            # The marker is text: in the field itself when that is a string
            # field, else in its companion (a declared long stays a long, or absent).
            _put(document, path if is_string else companion, MARKER)
            return
        if is_string:
            _put(document, path, value_text(value, self.max_length, scrub))
            return
        try:
            converted = converter(value)
        except Exception:
            converted = None
        if converted is None:
            _put(document, companion, value_text(value, self.max_length, scrub))
        else:
            _put(document, path, converted)

    # -- the line ----------------------------------------------------------

    def render(
        self,
        *,
        created: Any,
        level: Any,
        logger: Any,
        message: Any,
        file_name: Any = None,
        line: Any = None,
        function: Any = None,
        pid: Any = None,
        thread_name: Any = None,
        exc_info: Any = None,
        stack_info: Any = None,
        extra: Optional[Mapping[Any, Any]] = None,
        event_id: Optional[str] = None,
        trace: Optional[Trace] = None,
        cache_key: Any = None,
    ) -> str:
        """One JSON line (no newline) for a record; never raises.

        *extra* maps names to values (keys in the renderer's *skip* are left out);
        *cache_key* (the record) lets every renderer reuse its stack trace.
        """
        return self.line(
            created,
            level,
            logger,
            message,
            file_name,
            line,
            function,
            pid,
            thread_name,
            exc_info,
            stack_info,
            None if extra is None else extra.items(),
            event_id,
            trace,
            cache_key,
        )

    def line(
        self,
        created: Any,
        level: Any,
        logger: Any,
        message: Any,
        file_name: Any,
        line: Any,
        function: Any,
        pid: Any,
        thread_name: Any,
        exc_info: Any,
        stack_info: Any,
        extra: Optional[Iterable[tuple[Any, Any]]],
        event_id: Optional[str],
        trace: Optional[Trace],
        cache_key: Any,
    ) -> str:
        """:meth:`render` with positional arguments, for front doors on the hot path.

        *extra* is (name, value) pairs, read once: an iterator will do.
        """
        try:
            scrub = self._scrubber
            if self._follow and self._source.scrub_policy is not self._followed:
                scrub = self._follow_policy()
            start, prefix = self._second
            try:
                offset = created - start
                if 0.0 <= offset < 1.0:
                    stamp = prefix + _MILLIS[int(offset * 1000)]
                else:
                    stamp = self._timestamp(created)
            except Exception:  # not a number
                stamp = self._timestamp(created)
            # Values that compare equal share a head (1 and True as a line
            # number both give 1): a line may differ in such a value's
            # spelling, never in a type.
            key = (level, logger, file_name, line, function, pid, thread_name)
            heads = self._heads
            try:
                head = heads.get(key)
            except TypeError:  # an unhashable value: not cached
                head = self._head(*key)
            if head is None:
                head = self._head(*key)
                if len(heads) >= _MAX_CACHED_KEYS:
                    heads.clear()
                heads[key] = head
            # Short messages come again (constant ones, several handlers on
            # a record): their encoded, scrubbed form is remembered.
            text = self._messages.get(message) if message.__class__ is str else None
            if text is None:
                text = self._message_text(message, scrub)
            if extra is not None:
                labels, declared = self._labels(extra, scrub)
            else:
                labels = declared = None
            encode = self._encode
            if exc_info or stack_info or trace is not None or event_id is not None:
                tail = self._tail(exc_info, stack_info, cache_key, trace, event_id, scrub)
            elif declared is None:
                # The common line: message, static members, labels.
                if labels is None:
                    return f'{{"@timestamp":"{stamp}{head[0]}{text}{head[2]}}}'
                try:
                    encoded = encode(labels).decode()
                except TypeError:  # lone surrogates (orjson): the safe encoder replaces them
                    encoded = _encode_safe(labels).decode()
                return f'{{"@timestamp":"{stamp}{head[0]}{text}{head[2]},"labels":{encoded}}}'
            else:
                tail = None
            try:
                before = "," + encode(tail).decode()[1:-1] if tail else ""
                after = "," + encode(declared).decode()[1:-1] if declared else ""
                if labels is not None:
                    after += ',"labels":' + encode(labels).decode()
            except TypeError:  # lone surrogates (orjson): the safe encoder replaces them
                before, after = self._members(_encode_safe, tail, declared, labels)
            return f'{{"@timestamp":"{stamp}{head[0]}{text}{head[1]}{before}{self._static}{after}}}'
        except Exception as exc:
            return self.fallback_line(created, level, logger, message, exc)

    def hide_repeats(
        self,
        line: str,
        message: Any,
        extra: Optional[Iterable[tuple[Any, Any]]],
        exc_info: Any,
        stack_info: Any,
    ) -> str:
        """*line* with every secret scrubbed from one of its fields hidden in all the others.

        Called only for a line holding the marker: the secrets are found again
        in the record's raw inputs (message, extras, the exception chain's
        texts and source lines, the stack), and replaced in the line's
        message, labels, declared fields and error texts; the members that
        name the record (time, level, logger, process, service, ids) are left.
        Never raises: on any failure the line is returned as it was.
        """
        try:
            scrub = self._scrubber
            if scrub is None or not scrub.repeats:
                return line
            found: set[str] = set()
            scrub.found(message if type(message) is str else safe_str(message), found)
            for key, value in extra or ():
                if key in self._skip or value is None:
                    continue
                if scrub.secret_key(key):
                    scrub.secrets_under_key(value, found)
                else:
                    scrub.value(value, found=found)
                    if not isinstance(value, (str, int, float, Mapping, list, tuple)):
                        scrub.found(safe_str(value), found)
            exc = exc_info[1] if type(exc_info) is tuple and len(exc_info) == 3 else None
            if isinstance(exc, BaseException):
                for text, code in chain_texts(exc):
                    scrub.found(text, found, code)
            if stack_info:
                scrub.found(stack_info if type(stack_info) is str else safe_str(stack_info), found)
            hide = scrub.hider(found)
            if hide is None:
                return line
            document = json.loads(line)
            for name, member in document.items():
                if name in _IDENTITY_MEMBERS:
                    continue
                if name == "error" and isinstance(member, dict):
                    for key in member:
                        if key != "type":
                            member[key] = hide_in(member[key], hide, numbers=False)
                else:
                    document[name] = hide_in(member, hide, numbers=False)
            return _dumps(document)
        except Exception:
            return line

    def _message_text(self, message: Any, scrub: Optional[ScrubPolicy]) -> str:
        """The message as encoded JSON text: scrubbed, cut, remembered when short."""
        limit = self.max_length
        if message.__class__ is str:
            # The policy's own table is skipped: this renderer remembers short
            # messages itself, and a new message each record would only churn it.
            text = (
                message if scrub is None or not scrub.may_change(message) else scrub.text(message)
            )
            if len(text) > limit:
                text = cut(text, limit)
        else:
            text = value_text(message, limit, scrub)
        try:
            encoded = self._encode(text).decode()
        except TypeError:  # lone surrogates (orjson): the safe encoder replaces them
            encoded = _encode_safe(text).decode()
        if message.__class__ is str and len(message) <= _CACHED_MESSAGE:
            messages = self._messages
            if len(messages) >= _MAX_CACHED_MESSAGES:
                messages.clear()
            messages[message] = encoded
        return encoded

    @staticmethod
    def _members(
        encode: Encoder,
        tail: Optional[dict[str, Any]],
        declared: Optional[dict[str, Any]],
        labels: Optional[dict[str, str]],
    ) -> tuple[str, str]:
        """The encoded members before the static ones, and those after."""
        before = "," + encode(tail).decode()[1:-1] if tail else ""
        after = "," + encode(declared).decode()[1:-1] if declared else ""
        if labels is not None:
            after += ',"labels":' + encode(labels).decode()
        return before, after

    def fallback_line(
        self, created: Any, level: Any, logger: Any, message: Any, problem: Any
    ) -> str:
        """A minimal line for a record whose full document could not be built."""
        try:
            try:
                scrub = self.scrubber()
            except Exception:
                scrub = default_policy() if self.scrub else None
            document: dict[str, Any] = {
                "@timestamp": self._timestamp(created),
                "log": {
                    "level": self._text(safe_str(level)).lower(),
                    "logger": self._text(safe_str(logger)),
                },
                "message": self._text(safe_str(message), scrub),
                "labels": {
                    "formatter_error": self._text(
                        f"{type(problem).__name__}: {safe_str(problem)}", scrub
                    )
                },
            }
            return _dumps_stdlib(document)
        except Exception:
            return '{"message":"sentry-logging-std: this record could not be formatted"}'


# ---------------------------------------------------------------------------
# Options: validated once, the same way for every front door.


def optional_str(name: str, value: object) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")


def _max_length(value: object) -> int:
    if value is None:
        return DEFAULT_MAX_LENGTH
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"max_length must be an integer, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_length must be an integer, got {type(value).__name__}")
    assert isinstance(value, int)
    if value < MIN_MAX_LENGTH:
        raise ValueError(f"max_length must be at least {MIN_MAX_LENGTH}, got {value}")
    return value


class PickledAsArguments:
    """A formatter pickled as the arguments it was made with (a child started by
    spawn or forkserver, loguru's ``enqueue=True``): the copy is built anew, with
    tables of its own. ``__init__`` calls :meth:`_keep_arguments` with ``locals()``."""

    _arguments: dict[str, Any]

    def _keep_arguments(self, given: Mapping[str, Any]) -> None:
        self._arguments = {k: v for k, v in given.items() if k not in ("self", "__class__")}

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild, (type(self), self._arguments))


def _rebuild(cls: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    return cls(**arguments)


def check_defaults(
    defaults: object, reserved: AbstractSet[str] = frozenset(), what: str = ""
) -> Optional[dict[str, Any]]:
    """The ``defaults`` option: a mapping of extra names (str, not in *reserved*) to values.

    *what* says what the reserved names are, for the error message.
    """
    if defaults is None:
        return None
    if not isinstance(defaults, Mapping):
        raise TypeError(f"defaults must be a mapping, got {type(defaults).__name__}")
    for key in defaults:
        if not isinstance(key, str) or key in reserved:
            why = f"not a string, or {what}" if what else "not a string"
            raise ValueError(f"defaults: {key!r} cannot be an extra ({why})")
    return dict(defaults) or None


def build_renderer(
    *,
    service_name: object = None,
    service_environment: object = None,
    service_version: object = None,
    hostname: object = None,
    fields: object = None,
    max_length: object = None,
    exception_formatter: Optional[Callable[[ExcInfo], str]] = None,
    skip: AbstractSet[Any] = frozenset(),
    scrub: object = True,
    scrub_keys: object = None,
    scrub_patterns: object = None,
    scrub_defaults_off: object = None,
    policy_source: Any = None,
) -> Renderer:
    """Validate the options every JSON front door takes and build its renderer.

    Raises TypeError or ValueError naming the option; nothing is checked per record.
    Without ``scrub_keys``, ``scrub_patterns`` and ``scrub_defaults_off`` the
    renderer follows *policy_source*'s ``scrub_policy`` (the Sentry front
    door's), else the defaults.
    """
    if not isinstance(scrub, bool):
        raise TypeError(f"scrub must be True or False, got {type(scrub).__name__}")
    policy = (
        None
        if scrub_keys is None and scrub_patterns is None and scrub_defaults_off is None
        else policy_of(scrub_keys, scrub_patterns, scrub_defaults_off)
    )
    return Renderer(
        schema=Schema(parse_fields(fields, "fields")),
        service_name=optional_str("service_name", service_name),
        service_environment=optional_str("service_environment", service_environment),
        service_version=optional_str("service_version", service_version),
        hostname=optional_str("hostname", hostname),
        max_length=_max_length(max_length),
        exception_formatter=exception_formatter,
        skip=skip,
        scrub=scrub,
        scrub_policy=policy,
        policy_source=policy_source,
    )
