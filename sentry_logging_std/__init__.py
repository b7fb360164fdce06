"""Report errors to Sentry through the logging you already use."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from sentry_logging_std._api import capture_error
from sentry_logging_std._formatter import JsonFormatter
from sentry_logging_std._handler import SentryHandler

if TYPE_CHECKING:
    from sentry_logging_std._asgi import AsgiMiddleware
    from sentry_logging_std._loguru import SentrySink
    from sentry_logging_std._loguru_json import LoguruJsonFormat
    from sentry_logging_std._wsgi import WsgiMiddleware

try:
    __version__ = version("sentry-logging-std")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"

__all__ = [
    "AsgiMiddleware",
    "JsonFormatter",
    "LoguruJsonFormat",
    "SentryHandler",
    "SentrySink",
    "WsgiMiddleware",
    "__version__",
    "capture_error",
]


def __getattr__(name: str) -> Any:
    # loguru is an optional extra: importing SentrySink imports it, the
    # package itself does not. Without it the ImportError names the extra.
    if name == "SentrySink":
        from sentry_logging_std._loguru import SentrySink

        return SentrySink
    if name == "LoguruJsonFormat":
        # Imports no loguru itself, but belongs with it: loaded on first use.
        from sentry_logging_std._loguru_json import LoguruJsonFormat

        return LoguruJsonFormat
    # The web middlewares import sentry-sdk's WSGI/ASGI support (no framework)
    # only when asked for.
    if name == "WsgiMiddleware":
        from sentry_logging_std._wsgi import WsgiMiddleware

        return WsgiMiddleware
    if name == "AsgiMiddleware":
        from sentry_logging_std._asgi import AsgiMiddleware

        return AsgiMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
