"""The Django example's WSGI entry point, behind WsgiMiddleware.

Run (with ``SENTRY_DSN`` set):
``gunicorn --chdir examples/django_app wsgi:application``.
``/orders/13`` crashes: JSON 500 with the event id in ``X-Sentry-Event-Id``.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from sentry_logging_std import WsgiMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

# The one line: wrap Django's WSGI application.
application = WsgiMiddleware(
    get_wsgi_application(),
    service="shop",
    traces_sample_rate=float(os.environ.get("TRACES_SAMPLE_RATE", "1.0")),
)
