"""The Django example's ASGI entry point, behind AsgiMiddleware.

Run (with ``SENTRY_DSN`` set):
``uvicorn --app-dir examples/django_app asgi:application``.
``/orders/13`` crashes: JSON 500 with the event id in ``X-Sentry-Event-Id``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from sentry_logging_std import AsgiMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

# The one line: wrap Django's ASGI application.
application = AsgiMiddleware(
    get_asgi_application(),
    service="shop",
    traces_sample_rate=float(os.environ.get("TRACES_SAMPLE_RATE", "1.0")),
)
