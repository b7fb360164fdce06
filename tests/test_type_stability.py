"""Property: whatever ``extra`` holds, every line is strict JSON, one type per path, and accepted.

The checks and the hostile values live in :mod:`tests.type_checks`, shared
with the loguru front door's tests.
"""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sentry_logging_std import JsonFormatter
from sentry_logging_std import _render as render_module
from sentry_logging_std._schema import RECORD_ATTRIBUTES
from tests.type_checks import DECLARED, PROFILE, Contract, es_errors, extras, strict_loads

FORMATTER = JsonFormatter(service_name="orders", fields=DECLARED, max_length=200)
CONTRACT = Contract(FORMATTER.schema)
PROPERTIES = CONTRACT.properties


def _record(extra: dict[str, Any], with_exception: bool) -> logging.LogRecord:
    logger = logging.getLogger("tests.type_stability")
    exc_info = None
    if with_exception:
        try:
            raise ValueError("failed")
        except ValueError as exc:
            exc_info = (ValueError, exc, exc.__traceback__)
    # logging itself refuses extras named like record attributes.
    safe_extra = {k: v for k, v in extra.items() if k not in RECORD_ATTRIBUTES}
    return logger.makeRecord(
        logger.name, logging.ERROR, __file__, 10, "msg %s", ("x",), exc_info, extra=safe_extra
    )


@PROFILE
@given(records=st.lists(st.tuples(extras, st.booleans()), min_size=1, max_size=3))
def test_random_extra_never_breaks_the_contract(
    records: list[tuple[dict[str, Any], bool]],
) -> None:
    """Hostile extra: no raise, strict JSON, each path its schema type, accepted by the mapping."""
    for extra, with_exception in records:
        line = FORMATTER.format(_record(extra, with_exception))
        document = CONTRACT.check(line)
        # The line is written in parts: together they are what encoding the
        # whole document at once gives (no key twice, compact, same order).
        assert render_module._dumps(document) == line


def test_the_validator_rejects_what_elasticsearch_rejects() -> None:
    """The acceptance check itself can fail: wrong types, unmapped paths, NaN are caught."""
    assert es_errors(PROPERTIES, {"order_id": "abc"})
    assert es_errors(PROPERTIES, {"order_id": 2**64})
    assert es_errors(PROPERTIES, {"amount": "1.5"})
    assert es_errors(PROPERTIES, {"log": "info"})
    assert es_errors(PROPERTIES, {"labels": {"a": 1}})
    assert es_errors(PROPERTIES, {"unknown": "x"})
    assert es_errors(PROPERTIES, {"when": "yesterday"})
    assert es_errors(PROPERTIES, {"client_ip": "fe80::1%eth0"})
    assert es_errors(PROPERTIES, {"log.level": "info"})
    try:
        strict_loads('{"a": NaN}')
    except ValueError:
        pass
    else:  # pragma: no cover - the check must refuse NaN
        raise AssertionError("NaN accepted")
