"""es-template: the printed index template maps exactly what the formatter writes."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from typing import Any

import pytest

from sentry_logging_std import JsonFormatter
from sentry_logging_std._estemplate import add_arguments, build_template, run
from tests.type_checks import es_errors, strict_loads


def _template(*argv: str) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="es-template")
    add_arguments(parser)
    out = io.StringIO()
    assert run(parser.parse_args(list(argv)), out) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def _leaves(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, mapping in properties.items():
        if "properties" in mapping:
            found.update(_leaves(mapping["properties"], f"{prefix}{key}."))
        else:
            found[prefix + key] = mapping["type"]
    return found


def test_default_template_shape() -> None:
    """A composable template for a logs data stream, nothing mapped dynamically."""
    template = _template()
    assert template["index_patterns"] == ["logs-app-*"]
    assert template["data_stream"] == {}
    assert template["priority"] > 100
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] is False
    assert mappings["date_detection"] is False
    assert mappings["properties"]["labels"] == {"type": "flattened", "ignore_above": 1024}
    assert _leaves(mappings["properties"]) == {
        "@timestamp": "date",
        "log.level": "keyword",
        "log.logger": "keyword",
        "log.origin.file.name": "keyword",
        "log.origin.file.line": "long",
        "log.origin.function": "keyword",
        "message": "match_only_text",
        "error.type": "keyword",
        "error.message": "match_only_text",
        "error.stack_trace": "wildcard",
        "trace.id": "keyword",
        "span.id": "keyword",
        "transaction.id": "keyword",
        "sentry.event_id": "keyword",
        "service.name": "keyword",
        "service.environment": "keyword",
        "service.version": "keyword",
        "host.hostname": "keyword",
        "process.pid": "long",
        "process.thread.name": "keyword",
        "ecs.version": "keyword",
        "labels": "flattened",
    }


def test_fixed_fields_have_the_ecs_types() -> None:
    """Each fixed field is mapped as the ECS 9.4 templates in ../shared/ecs map it."""
    template = _template()
    leaves = _leaves(template["template"]["mappings"]["properties"])
    ecs_types = {
        "@timestamp": "date",
        "message": "match_only_text",
        "log.level": "keyword",
        "log.origin.file.line": "long",
        "error.stack_trace": "wildcard",
        "process.pid": "long",
        "trace.id": "keyword",
    }
    for path, es_type in ecs_types.items():
        assert leaves[path] == es_type


def test_declared_fields_and_companions_are_mapped() -> None:
    """--fields adds each declared field with its type and a keyword companion if it can fail."""
    template = _template(
        "--fields",
        "order_id:long,amount:double,customer:keyword,http.status:short",
        "--name",
        "orders",
    )
    assert template["index_patterns"] == ["logs-orders-*"]
    leaves = _leaves(template["template"]["mappings"]["properties"])
    assert leaves["order_id"] == "long"
    assert leaves["order_id_raw"] == "keyword"
    assert leaves["amount"] == "double"
    assert leaves["amount_raw"] == "keyword"
    assert leaves["customer"] == "keyword"
    assert "customer_raw" not in leaves
    assert leaves["http.status"] == "short"
    assert template["_meta"]["declared_fields"] == {
        "order_id": "long",
        "amount": "double",
        "customer": "keyword",
        "http.status": "short",
    }


def test_index_pattern_option() -> None:
    """--index-pattern replaces the default pattern (repeatable)."""
    template = _template("--index-pattern", "a-*", "--index-pattern", "b-*")
    assert template["index_patterns"] == ["a-*", "b-*"]


def test_bad_fields_exit_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown type or an owned name is refused with a message naming --fields."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--fields", "order_id:bigint"]), io.StringIO()) == 2
    assert "--fields" in capsys.readouterr().err
    assert run(parser.parse_args(["--fields", "log.level:keyword"]), io.StringIO()) == 2


def test_run_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without an explicit stream, run() prints the JSON to stdout."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args([])) == 0
    assert json.loads(capsys.readouterr().out)["data_stream"] == {}


def test_every_line_with_every_field_is_accepted() -> None:
    """A line using every fixed field, declared fields and companions is accepted as mapped."""
    import sentry_sdk

    fields = "order_id:long,amount:double,paid:boolean,at:date,ip:ip,note:text"
    template = _template("--fields", fields)
    formatter = JsonFormatter(
        fields=fields, service_name="s", service_environment="e", service_version="v"
    )
    try:
        raise ValueError("x")
    except ValueError:
        exc_info = sys.exc_info()
    logger = logging.getLogger("tests.estemplate")
    good = logger.makeRecord(
        "x",
        40,
        __file__,
        1,
        "m",
        (),
        exc_info,
        "f",
        {
            "order_id": 1,
            "amount": 2,
            "paid": "true",
            "at": 0,
            "ip": "::1",
            "note": 1,
            "other": {"a": [1]},
        },
        "Stack (most recent call last)",
    )
    bad = logger.makeRecord(
        "x",
        40,
        __file__,
        1,
        "m",
        (),
        None,
        "f",
        {"order_id": "one", "amount": "two", "paid": "maybe", "at": "then", "ip": "here"},
    )
    properties = template["template"]["mappings"]["properties"]
    with sentry_sdk.start_transaction(name="t"), sentry_sdk.start_span(op="x"):
        lines = [formatter.format(good), formatter.format(bad)]
    seen: set[str] = set()
    for line in lines:
        document = strict_loads(line)
        assert es_errors(properties, document) == []
        seen.update(document)
    assert {"error", "labels", "order_id", "order_id_raw", "amount_raw", "paid_raw"} <= seen


def test_template_matches_formatter_schema() -> None:
    """build_template and the formatter read one schema: same declared fields, same leaves."""
    formatter = JsonFormatter(fields={"a": "long", "b.c": "ip"})
    properties = build_template(formatter.schema, "x")["template"]["mappings"]["properties"]
    assert set(_leaves(properties)) == {*formatter.schema.json_types()} - {"labels.*"} | {"labels"}
