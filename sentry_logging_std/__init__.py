"""Report errors to Sentry through the logging you already use.

Importing the package costs almost nothing: each public name is loaded on
first use (a module ``__getattr__``), so sentry-sdk, loguru, structlog and
``importlib.metadata`` are imported only by what needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentry_logging_std._api import capture_error
    from sentry_logging_std._asgi import AsgiMiddleware
    from sentry_logging_std._formatter import JsonFormatter
    from sentry_logging_std._handler import SentryHandler
    from sentry_logging_std._loguru import SentrySink
    from sentry_logging_std._loguru_json import LoguruJsonFormat
    from sentry_logging_std._structlog import SentryProcessor
    from sentry_logging_std._structlog_json import JsonRenderer
    from sentry_logging_std._wsgi import WsgiMiddleware

    __version__: str

__all__ = [
    "AsgiMiddleware",
    "JsonFormatter",
    "JsonRenderer",
    "LoguruJsonFormat",
    "SentryHandler",
    "SentryProcessor",
    "SentrySink",
    "WsgiMiddleware",
    "__version__",
    "capture_error",
]

#: Where each public name lives. SentrySink imports loguru (an optional
#: extra: without it the ImportError names the extra); the middlewares import
#: sentry-sdk's WSGI/ASGI support, never a framework.
_HOMES = {
    "AsgiMiddleware": "_asgi",
    "JsonFormatter": "_formatter",
    "JsonRenderer": "_structlog_json",
    "LoguruJsonFormat": "_loguru_json",
    "SentryHandler": "_handler",
    "SentryProcessor": "_structlog",
    "SentrySink": "_loguru",
    "WsgiMiddleware": "_wsgi",
    "capture_error": "_api",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("sentry-logging-std")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            value = "0"
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
