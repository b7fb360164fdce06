"""A Flask app behind WsgiMiddleware.

Run: ``SENTRY_DSN=https://<key>@<host>/<project> gunicorn --chdir examples flask_app:application``
(or ``python examples/flask_app.py``). ``/orders/<id>`` logs a JSON line with the trace
ids; ``/orders/13`` crashes: the answer is a JSON 500 with the event id in
``X-Sentry-Event-Id``; ``/orders/0`` is Flask's own 404.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, abort

from sentry_logging_std import JsonFormatter, WsgiMiddleware

handler = logging.StreamHandler()
handler.setFormatter(JsonFormatter(service_name="shop"))
logging.basicConfig(level=logging.INFO, handlers=[handler])

app = Flask(__name__)
app.config["PROPAGATE_EXCEPTIONS"] = True  # let crashes reach the middleware (no HTML 500 page)


@app.route("/orders/<int:order_id>")
def order(order_id: int) -> dict[str, object]:
    logging.getLogger("shop").info("order %s requested", order_id)
    if order_id == 0:
        abort(404)
    if order_id == 13:
        raise RuntimeError(f"order {order_id} cannot be priced")
    return {"id": order_id}


# The one line: serve this instead of ``app``. The client starts lazily from these
# options (DSN from SENTRY_DSN). Wrapping the Flask object (not ``app.wsgi_app``) puts the
# middleware outside sentry-sdk's FlaskIntegration, so a W3C traceparent is read first.
application = WsgiMiddleware(
    app,
    service="shop",
    traces_sample_rate=float(os.environ.get("TRACES_SAMPLE_RATE", "1.0")),
)

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(os.environ.get("PORT", "8000")), application)
