"""``python -m sentry_logging_std es-template``: the index template for the JSON lines.

The mappings come from the same :class:`~sentry_logging_std._schema.Schema`
the formatter renders with, so they type every field a line can carry exactly
as the formatter writes it:

- ``dynamic: false``: nothing is mapped from what arrives. A field no mapping
  names (say a shipper's own ``agent.*``, or a field declared in the
  application but not yet here) is kept in ``_source`` and not indexed; with
  ``strict`` the whole document would be rejected, which is the failure this
  library exists to prevent.
- ``labels`` is ``flattened``: one field whatever keys arrive, every value
  indexed as a keyword. No key can add a mapping entry (so the total fields
  limit is never reached) and no two keys can conflict.
- keyword fields have ``ignore_above``: an over-long value is kept, not indexed,
  instead of failing Lucene's term length limit.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional, TextIO

from sentry_logging_std._schema import ECS_VERSION, Schema, parse_fields

__all__ = ["add_arguments", "build_template", "run"]

#: Above the built-in ``logs`` template (priority 100) for the same indices.
PRIORITY = 200


def build_template(
    schema: Schema, name: str, index_patterns: Optional[list[str]] = None
) -> dict[str, Any]:
    """The composable index template (the body of ``PUT _index_template/<name>``)."""
    return {
        "index_patterns": index_patterns or [f"logs-{name}-*"],
        "data_stream": {},
        "priority": PRIORITY,
        "template": {
            "mappings": {
                "dynamic": False,
                "date_detection": False,
                "numeric_detection": False,
                "properties": schema.properties(),
            }
        },
        "_meta": {
            "description": "JSON log lines written by sentry_logging_std.JsonFormatter",
            "template_name": name,
            "ecs_version": ECS_VERSION,
            "declared_fields": {field.name: field.type.name for field in schema.declared},
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``es-template`` options to *parser*."""
    parser.add_argument(
        "--fields",
        default=None,
        help="declared fields as the formatter's fields option: 'order_id:long,amount:double'",
    )
    parser.add_argument(
        "--name",
        default="app",
        help="template name; the default index pattern is logs-NAME-* (default: app)",
    )
    parser.add_argument(
        "--index-pattern",
        action="append",
        dest="index_patterns",
        default=None,
        metavar="PATTERN",
        help="index pattern to match instead of logs-NAME-* (repeatable)",
    )


def run(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Print the template as JSON; 2 (with a message on stderr) for bad options."""
    stream = sys.stdout if out is None else out
    try:
        schema = Schema(parse_fields(args.fields, "--fields"))
    except (TypeError, ValueError) as exc:
        print(f"es-template: {exc}", file=sys.stderr)
        return 2
    name = args.name
    if not name or not isinstance(name, str):
        print("es-template: --name must not be empty", file=sys.stderr)
        return 2
    template = build_template(schema, name, getattr(args, "index_patterns", None))
    stream.write(json.dumps(template, indent=2) + "\n")
    return 0
