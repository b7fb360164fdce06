"""Importable objects for configuration tests (``ext://tests.helpers.…``)."""

from __future__ import annotations

from typing import Any


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    event.setdefault("tags", {})["before_send"] = "ran"
    return event


NOT_CALLABLE = 42
