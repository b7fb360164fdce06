"""The field schema of JSON log lines: one source for the formatter and the ES template.

Every field a line can carry is listed here with its Elasticsearch type: the
fixed ECS fields the renderer writes, the fields an application declares
(``fields={"order_id": "long"}``), the companion field that keeps a declared
field's unconvertible value as a string, and ``labels``. The renderer emits
exactly these paths with exactly these JSON types, and the index template
printed by ``python -m sentry_logging_std es-template`` maps exactly these.

Leaf module: imports nothing from the package above it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

__all__ = [
    "COMPANION_SUFFIX",
    "ECS_VERSION",
    "ES_TYPES",
    "FIXED_FIELDS",
    "LABELS_MAPPING",
    "RECORD_ATTRIBUTES",
    "RESERVED_ROOTS",
    "EsType",
    "Field",
    "Schema",
    "parse_fields",
]

#: The ECS release whose field names and types the fixed fields follow.
ECS_VERSION = "9.4.0"

#: A declared field whose value cannot be converted keeps it, as a string, in
#: a sibling field named like the declared one with this suffix.
COMPANION_SUFFIX = "_raw"

#: ``ignore_above`` for keyword-like fields: longer values are kept in the
#: document's source but not indexed, instead of failing Lucene's term limit.
KEYWORD_IGNORE_ABOVE = 1024

#: ``labels`` holds every undeclared extra as a string under a key without
#: dots. Mapped ``flattened``, the whole object is one field: no key can add
#: a mapping entry (so ``total_fields.limit`` is never reached) and no key can
#: conflict with another (``a`` as a value and ``a.b`` are just two keys).
LABELS_MAPPING: dict[str, Any] = {"type": "flattened", "ignore_above": KEYWORD_IGNORE_ABOVE}


@dataclass(frozen=True)
class EsType:
    """An Elasticsearch field type and the JSON values the renderer gives it."""

    name: str
    #: "string", "integer", "float", "boolean", "date" or "ip": how values convert.
    kind: str
    #: Inclusive bounds for integer types; the largest magnitude for float types.
    low: Union[int, float, None] = None
    high: Union[int, float, None] = None

    @property
    def json_type(self) -> str:
        """The JSON type every emitted value of this field has."""
        if self.kind in ("integer", "float", "boolean"):
            return self.kind
        return "string"

    def mapping(self) -> dict[str, Any]:
        if self.name in ("keyword",):
            return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
        return {"type": self.name}


def _int_type(name: str, bits: int) -> EsType:
    return EsType(name, "integer", -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


#: The field types a declared field may have, named as Elasticsearch names them.
ES_TYPES: dict[str, EsType] = {
    t.name: t
    for t in (
        EsType("keyword", "string"),
        EsType("text", "string"),
        EsType("match_only_text", "string"),
        EsType("wildcard", "string"),
        _int_type("long", 64),
        _int_type("integer", 32),
        _int_type("short", 16),
        _int_type("byte", 8),
        EsType("unsigned_long", "integer", 0, 2**64 - 1),
        EsType("double", "float", None, 1.7976931348623157e308),
        EsType("float", "float", None, 3.4028234663852886e38),
        EsType("half_float", "float", None, 65504.0),
        EsType("boolean", "boolean"),
        EsType("date", "date"),
        EsType("ip", "ip"),
    )
}


@dataclass(frozen=True)
class Field:
    """One leaf of a log line: its dotted name, path and type."""

    name: str
    type: EsType
    #: The mapping, when it is not simply ``type.mapping()``.
    custom_mapping: Union[tuple[tuple[str, Any], ...], None] = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))

    def mapping(self) -> dict[str, Any]:
        if self.custom_mapping is not None:
            return dict(self.custom_mapping)
        return self.type.mapping()


_KEYWORD = ES_TYPES["keyword"]
_TEXT = ES_TYPES["match_only_text"]
_WILDCARD_WITH_TEXT = (
    ("type", "wildcard"),
    ("fields", {"text": {"type": "match_only_text"}}),
)

#: The fixed fields, with the types ECS 9.4 gives them.
FIXED_FIELDS: tuple[Field, ...] = (
    Field("@timestamp", ES_TYPES["date"]),
    Field("log.level", _KEYWORD),
    Field("log.logger", _KEYWORD),
    Field("log.origin.file.name", _KEYWORD),
    Field("log.origin.file.line", ES_TYPES["long"]),
    Field("log.origin.function", _KEYWORD),
    Field("message", _TEXT),
    Field("error.type", _KEYWORD),
    Field("error.message", _TEXT),
    Field("error.stack_trace", ES_TYPES["wildcard"], _WILDCARD_WITH_TEXT),
    Field("trace.id", _KEYWORD),
    Field("span.id", _KEYWORD),
    Field("transaction.id", _KEYWORD),
    Field("sentry.event_id", _KEYWORD),
    Field("service.name", _KEYWORD),
    Field("service.environment", _KEYWORD),
    Field("service.version", _KEYWORD),
    Field("host.hostname", _KEYWORD),
    Field("process.pid", ES_TYPES["long"]),
    Field("process.thread.name", _KEYWORD),
    Field("ecs.version", _KEYWORD),
)

#: Top-level names the fixed fields (and labels) own: a declared field may not
#: start with one, and an undeclared extra of that name goes to labels.
RESERVED_ROOTS = frozenset({f.path[0] for f in FIXED_FIELDS} | {"labels", "event", "tags"})

# Attributes every LogRecord has: they can never arrive as ``extra``.
RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _check_name(name: str, option: str) -> None:
    if not name or name != name.strip():
        raise ValueError(f"{option}: field name {name!r} is empty or has surrounding spaces")
    parts = name.split(".")
    if any(not part or part != part.strip() for part in parts):
        raise ValueError(
            f"{option}: field name {name!r} has an empty part (a leading, trailing or doubled dot)"
        )
    if parts[0] in RESERVED_ROOTS or parts[0].startswith("_"):
        raise ValueError(
            f"{option}: field name {name!r} is under {parts[0]!r}, which the formatter "
            f"owns (reserved: {', '.join(sorted(RESERVED_ROOTS))}, and names starting with _)"
        )
    if name in RECORD_ATTRIBUTES:
        raise ValueError(
            f"{option}: {name!r} is a LogRecord attribute and cannot be passed in extra"
        )


def parse_fields(value: object, option: str = "fields") -> tuple[Field, ...]:
    """Validate declared fields: a mapping name -> ES type, or "name:type,name:type"."""
    if value is None:
        return ()
    pairs: list[tuple[object, object]]
    if isinstance(value, str):
        pairs = []
        for item in value.replace(";", ",").split(","):
            if not item.strip():
                continue
            field_name, sep, field_type = item.partition(":")
            if not sep:
                raise ValueError(f"{option}: {item.strip()!r} is not 'name:type'")
            pairs.append((field_name.strip(), field_type.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise TypeError(
            f"{option} must be a mapping of field name to Elasticsearch type, or a string "
            f"'name:type,name:type'; got {type(value).__name__}"
        )
    fields: list[Field] = []
    for name, type_name in pairs:
        if not isinstance(name, str):
            raise TypeError(f"{option}: field names must be strings, got {name!r}")
        if not isinstance(type_name, str):
            raise TypeError(f"{option}: the type of {name!r} must be a string, got {type_name!r}")
        _check_name(name, option)
        es_type = ES_TYPES.get(type_name.strip().lower())
        if es_type is None:
            raise ValueError(
                f"{option}: {name!r} has unknown type {type_name!r}; "
                f"known types: {', '.join(ES_TYPES)}"
            )
        fields.append(Field(name, es_type))
    return tuple(fields)


def _conflicts(paths: Iterable[tuple[str, ...]]) -> list[tuple[str, str]]:
    """Pairs of paths where one is the other, or a leaf would have to be an object."""
    ordered = sorted(set(paths))
    known = set(ordered)
    return [
        (".".join(path[:length]), ".".join(path))
        for path in ordered
        for length in range(1, len(path))
        if path[:length] in known
    ]


class Schema:
    """Fixed fields, declared fields and their companions: every leaf a line may have."""

    def __init__(self, declared: Iterable[Field] = ()) -> None:
        self.declared: tuple[Field, ...] = tuple(declared)
        names = [f.name for f in self.declared]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"fields: {', '.join(duplicates)} declared more than once")
        self.companions: dict[str, Field] = {
            f.name: Field(f.name + COMPANION_SUFFIX, _KEYWORD)
            for f in self.declared
            if f.type.kind != "string"
        }
        leaves = [*FIXED_FIELDS, *self.declared, *self.companions.values()]
        all_names = [f.name for f in leaves]
        clashes = sorted({n for n in all_names if all_names.count(n) > 1})
        if clashes:
            raise ValueError(
                f"fields: {', '.join(clashes)} would be written twice "
                f"(a declared field named like another's {COMPANION_SUFFIX} companion)"
            )
        conflicts = _conflicts(f.path for f in leaves)
        if conflicts:
            parent, child = conflicts[0]
            raise ValueError(
                f"fields: {parent!r} and {child!r} cannot both be fields "
                f"({parent!r} would have to be a value and an object)"
            )
        self.leaves: tuple[Field, ...] = tuple(leaves)

    def json_types(self) -> dict[str, str]:
        """Dotted path -> the JSON type its values have ("labels.*" for labels)."""
        types = {f.name: f.type.json_type for f in self.leaves}
        types["labels.*"] = "string"
        return types

    def properties(self) -> dict[str, Any]:
        """The ``properties`` of an Elasticsearch mapping for these fields."""
        root: dict[str, Any] = {}
        for leaf in self.leaves:
            node = root
            *parents, last = leaf.path
            for part in parents:
                node = node.setdefault(part, {"properties": {}})["properties"]
            node[last] = leaf.mapping()
        root["labels"] = dict(LABELS_MAPPING)
        return root
