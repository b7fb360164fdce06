"""The type-stability contract as checks, shared by every JSON front door's tests.

"Accepted" is checked against the mapping ``es-template`` prints, under
Elasticsearch's documented rules for those field types (see
``../shared/ecs/README.md``): a keyword takes a string, a long an integer in
range, a double a finite number, a date a string in its date format, an ip an
address, a flattened field an object whose leaves are strings; with
``dynamic: false`` nothing unmapped is indexed, and we also require that
nothing unmapped is ever written.

Also here: hypothesis strategies for hostile values and keys, and the
``type-stability`` settings profile (1000 examples by default; set
SLS_HYPOTHESIS_EXAMPLES to change it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import ipaddress
import json
import math
import os
import re
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sentry_logging_std._estemplate import build_template
from sentry_logging_std._schema import Schema

settings.register_profile(
    "type-stability",
    max_examples=int(os.environ.get("SLS_HYPOTHESIS_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("type-stability")

DECLARED = {
    "order_id": "long",
    "amount": "double",
    "small": "byte",
    "ratio": "float",
    "paid": "boolean",
    "when": "date",
    "client_ip": "ip",
    "customer": "keyword",
    "note": "text",
    "http.response.status_code": "integer",
    "big": "unsigned_long",
}

# --- Elasticsearch's rules for the field types the template uses --------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
_INT_RANGES = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "unsigned_long": (0, 2**64 - 1),
}
_FLOAT_MAX = {
    "double": 1.7976931348623157e308,
    "float": 3.4028234663852886e38,
    "half_float": 65504.0,
}


def _leaf_error(path: str, mapping: dict[str, Any], value: Any) -> str | None:
    kind = mapping["type"]
    if kind in ("keyword", "text", "match_only_text", "wildcard"):
        return None if isinstance(value, str) else f"{path}: {kind} needs a string, got {value!r}"
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if type(value) is int and low <= value <= high:
            return None
        return f"{path}: {kind} rejects {value!r}"
    if kind in _FLOAT_MAX:
        if type(value) is float and math.isfinite(value) and abs(value) <= _FLOAT_MAX[kind]:
            return None
        return f"{path}: {kind} rejects {value!r}"
    if kind == "boolean":
        return None if type(value) is bool else f"{path}: boolean rejects {value!r}"
    if kind == "date":
        ok = isinstance(value, str) and _DATE.match(value)
        return None if ok else f"{path}: date rejects {value!r}"
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{path}: ip rejects {value!r}"
        return None if isinstance(value, str) and "%" not in value else f"{path}: ip {value!r}"
    if kind == "flattened":
        if not isinstance(value, dict):
            return f"{path}: flattened needs an object, got {value!r}"
        for key, item in value.items():
            if not key or not isinstance(item, str):
                return f"{path}.{key}: flattened leaf must be a non-empty key and a string"
        return None
    return f"{path}: the test does not know type {kind}"


def es_errors(properties: dict[str, Any], document: dict[str, Any], prefix: str = "") -> list[str]:
    """Why Elasticsearch (with these mappings, dynamic: false) would reject or not index it."""
    errors: list[str] = []
    for key, value in document.items():
        path = f"{prefix}{key}"
        if not key or key.startswith(".") or key.endswith(".") or ".." in key or "." in key:
            errors.append(f"{path}: unsafe key")
            continue
        mapping = properties.get(key)
        if mapping is None:
            errors.append(f"{path}: not in the mapping")
            continue
        if "properties" in mapping:
            if not isinstance(value, dict):
                errors.append(f"{path}: an object is mapped, got {value!r}")
            else:
                errors.extend(es_errors(mapping["properties"], value, path + "."))
            continue
        error = _leaf_error(path, mapping, value)
        if error:
            errors.append(error)
    return errors


def strict_loads(line: str) -> Any:
    """json.loads that refuses NaN/Infinity, as Elasticsearch does."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(line, parse_constant=refuse)


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def key_paths(document: dict[str, Any], prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in document.items():
        path = "labels.*" if prefix == "labels." else prefix + key
        found[path] = json_kind(value)
        if isinstance(value, dict):
            found.update(key_paths(value, path + "."))
    return found


# --- hostile values --------------------------------------------------------------


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class WeirdStr:
    def __str__(self) -> Any:
        return 5  # noqa: PLE0307 - not a string, so str() raises TypeError


def _cyclic_list() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def _cyclic_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    return loop


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 5, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
    st.binary(max_size=20),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)),
    st.dates(),
    st.uuids(),
    st.builds(Unprintable),
    st.builds(WeirdStr),
    st.builds(lambda: 10**5000),
    st.sampled_from(
        [
            Color.RED,
            Point(1, 2),
            ValueError("boom"),
            {1, 2},
            frozenset({"a"}),
            ipaddress.ip_address("10.0.0.1"),
            "1e400",
            "NaN",
            "-12",
            " 42 ",
            "true",
            "2024-01-02T03:04:05+02:00",
            "::1",
            "fe80::1%eth0",
            object(),
            _cyclic_list(),
            _cyclic_dict(),
            decimal.Decimal("sNaN"),
            uuid.UUID(int=1),
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), children, max_size=4),
    ),
    max_leaves=12,
)
keys = st.one_of(
    st.sampled_from(
        [
            *DECLARED,
            "error",
            "event",
            "log",
            "message_",
            "service",
            "host",
            "process",
            "trace",
            "labels",
            "span",
            "sentry",
            "ecs",
            "@timestamp",
            "",
            ".",
            "..",
            "a.",
            ".a",
            "a..b",
            "a.b",
            "a_b",
            "log.level",
            " ",
            "x" * 300,
        ]
    ),
    st.text(max_size=12),
)
extras = st.dictionaries(keys, values, max_size=8)


class Contract:
    """What every line for one schema must satisfy; :meth:`check` asserts it."""

    def __init__(self, schema: Schema) -> None:
        self.properties: dict[str, Any] = build_template(schema, "test")["template"]["mappings"][
            "properties"
        ]
        self.kinds = schema.json_types()

    def check(self, line: str) -> dict[str, Any]:
        """Strict JSON, one line, UTF-8, accepted by the mapping, each path its schema type."""
        assert "\n" not in line
        document = strict_loads(line)
        line.encode("utf-8")  # no lone surrogates
        assert es_errors(self.properties, document) == []
        for path, kind in key_paths(document).items():
            if kind == "object":
                continue
            assert self.kinds[path] == kind, (path, kind, line)
        assert isinstance(document, dict)
        return document
