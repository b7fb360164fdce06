"""Options are checked when the handler is built, and errors name the option."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import pytest

from sentry_logging_std import SentryHandler
from sentry_logging_std._options import DEFAULTS, parse_dsn

from .conftest import TEST_DSN, CapturingTransport


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"dsn": "not a dsn"}, ValueError, "dsn"),
        ({"dsn": "ftp://key@host/1"}, ValueError, "dsn"),
        ({"dsn": "https://host/1"}, ValueError, "dsn"),
        ({"dsn": "https://key@/1"}, ValueError, "dsn"),
        ({"dsn": "https://key@host/"}, ValueError, "dsn"),
        ({"dsn": "https://key@host:99999/1"}, ValueError, "dsn"),
        ({"dsn": 42}, TypeError, "dsn"),
        ({"sample_rate": 1.5}, ValueError, "sample_rate"),
        ({"sample_rate": "lots"}, ValueError, "sample_rate"),
        ({"traces_sample_rate": -0.1}, ValueError, "traces_sample_rate"),
        ({"before_send": 42}, TypeError, "before_send"),
        ({"before_send": "ext://tests.helpers.NOT_CALLABLE"}, TypeError, "before_send"),
        ({"before_send": "ext://tests.helpers.missing"}, ValueError, "before_send"),
        ({"enviroment": "prod"}, TypeError, "'environment'"),
        ({"event_level": "LOUD"}, ValueError, "event_level"),
        ({"breadcrumb_level": 1.5}, TypeError, "breadcrumb_level"),
        ({"tags": ["a"]}, TypeError, "tags"),
        ({"tags": {"": "x"}}, ValueError, "tags"),
        ({"tag_keys": [1]}, TypeError, "tag_keys"),
        ({"transport": "carrier-pigeon"}, ValueError, "transport"),
        ({"transport": 3}, TypeError, "transport"),
        ({"transport_timeout": 0}, ValueError, "transport_timeout"),
        ({"shutdown_timeout": -1}, ValueError, "shutdown_timeout"),
        ({"max_breadcrumbs": -1}, ValueError, "max_breadcrumbs"),
        ({"debug": "maybe"}, TypeError, "debug"),
        ({"integrations": [object()]}, TypeError, "integrations"),
        ({"integrations": ["no.such.Integration"]}, ValueError, "integrations"),
        ({"limits": [8192]}, TypeError, "limits"),
        ({"limits": {"event_bytes": 10}}, ValueError, "limits.event_bytes"),
    ],
)
def test_bad_option_is_a_configuration_error(
    options: dict[str, Any], error: type[Exception], names: str
) -> None:
    """Each bad option fails construction with an error that names it."""
    with pytest.raises(error, match=names):
        SentryHandler(**options)


def test_dictconfig_reports_the_option() -> None:
    """A bad option in dictConfig fails dictConfig, and the cause names the option."""
    config = {
        "version": 1,
        "handlers": {"sentry": {"class": "sentry_logging_std.SentryHandler", "sample_rate": 2}},
    }
    with pytest.raises(ValueError, match="sentry") as info:
        logging.config.dictConfig(config)
    assert "sample_rate" in str(info.value.__cause__)


@pytest.mark.parametrize("style", ["class", "()"])
def test_dictconfig_builds_the_handler(style: str) -> None:
    """Both the "class" and "()" forms build a handler with every option applied."""
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "sentry": {
                style: "sentry_logging_std.SentryHandler",
                "level": "INFO",
                "dsn": TEST_DSN,
                "environment": "production",
                "release": "orders@1.4.2",
                "sample_rate": 1.0,
                "traces_sample_rate": 0.1,
                "tags": {"service": "orders"},
                "before_send": "ext://tests.helpers.before_send",
                "event_level": "WARNING",
                "transport": "sync",
                "limits": {"event_bytes": "200000"},
            }
        },
        "root": {"handlers": ["sentry"], "level": "INFO"},
    }
    logging.config.dictConfig(config)
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, SentryHandler)]
    options = handler.options
    assert handler.level == logging.INFO
    assert options.dsn is not None
    assert options.dsn.project_id == "42"
    assert options.environment == "production"
    assert options.release == "orders@1.4.2"
    assert options.traces_sample_rate == 0.1
    assert options.tags == {"service": "orders"}
    assert options.event_level == logging.WARNING
    assert options.transport == "sync"
    assert options.limits.event_bytes == 200_000
    assert options.limits.string_length == 8192
    from tests.helpers import before_send

    assert options.before_send is before_send


def test_integrations_accept_classes_instances_and_names() -> None:
    """Integrations may be given as instances, classes or importable names."""
    from sentry_sdk.integrations.argv import ArgvIntegration
    from sentry_sdk.integrations.stdlib import StdlibIntegration

    handler = SentryHandler(
        integrations=[
            ArgvIntegration,
            StdlibIntegration(),
            "sentry_sdk.integrations.threading.ThreadingIntegration",
        ]
    )
    names = [type(i).__name__ for i in handler.options.integrations]
    assert names == ["ArgvIntegration", "StdlibIntegration", "ThreadingIntegration"]


def test_transport_accepts_a_transport_class() -> None:
    """A Transport subclass is passed through for sentry-sdk to build."""
    handler = SentryHandler(transport=CapturingTransport)
    assert handler.options.transport is CapturingTransport


def test_dsn_is_parsed_with_path_prefix_and_port() -> None:
    """A DSN with a port and a path prefix gives the right envelope URL."""
    dsn = parse_dsn("https://abc@sentry.example.com:8443/prefix/7")
    assert dsn.envelope_url == "https://sentry.example.com:8443/prefix/api/7/envelope/"
    assert dsn.public_key == "abc"


def test_empty_dsn_disables_even_with_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """dsn="" turns sending off although SENTRY_DSN is set."""
    monkeypatch.setenv("SENTRY_DSN", TEST_DSN)
    assert SentryHandler(dsn="").options.dsn is None
    assert SentryHandler().options.dsn is not None


def test_defaults_match_the_documented_table() -> None:
    """Every option appears in the README's option table with its default."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name in DEFAULTS:
        assert f"| `{name}` |" in readme, name
