"""Report errors to Sentry through the logging you already use."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sentry_logging_std._api import capture_error
from sentry_logging_std._handler import SentryHandler

try:
    __version__ = version("sentry-logging-std")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"

__all__ = ["SentryHandler", "__version__", "capture_error"]
