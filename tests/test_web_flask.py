"""WsgiMiddleware under Flask (sentry-sdk's FlaskIntegration auto-enabled), real WSGI calls."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sentry_logging_std import WsgiMiddleware

from .conftest import TEST_DSN, CapturingTransport
from .web_servers import transactions, wsgi_call


class OrderFailed(Exception):
    pass


def make_app(transport: CapturingTransport, propagate: bool, make_handler: Any) -> Any:
    from flask import Flask, abort

    app = Flask("shop")
    app.config["PROPAGATE_EXCEPTIONS"] = propagate
    # A SentryHandler on the root logger also sees Flask's own "Exception on ..." record.
    make_handler("flask.app", capture="sync")

    @app.route("/orders/<int:order_id>")
    def order(order_id: int) -> str:
        logging.getLogger("shop").info("order %s", order_id)
        if order_id == 0:
            abort(404)
        raise OrderFailed(f"order {order_id} failed")

    app.wsgi_app = WsgiMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, dsn=TEST_DSN, transport=transport, traces_sample_rate=1.0
    )
    return app


@pytest.mark.parametrize("propagate", [True, False], ids=["propagate", "flask-500-page"])
def test_flask_crash_is_one_event_and_a_json_500(
    transport: CapturingTransport, make_handler: Any, propagate: bool
) -> None:
    """Exactly one event whether Flask re-raises or renders its own 500 page (then replaced)."""
    app = make_app(transport, propagate, make_handler)
    response = wsgi_call(app, "/orders/7")
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["success"] is False
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]
    assert event["exception"]["values"][-1]["type"] == "OrderFailed"
    assert event["tags"]["http.route"] == "order"  # FlaskIntegration's endpoint name
    assert event["tags"]["http.status_code"] == "500"
    (transaction,) = transactions(transport)
    assert transaction["transaction"] == "order"


def test_flask_abort_404_is_not_an_error(transport: CapturingTransport, make_handler: Any) -> None:
    """abort(404) is Flask's own 404 and no error event."""
    app = make_app(transport, True, make_handler)
    response = wsgi_call(app, "/orders/0")
    assert response.status == 404
    assert transport.events == []
    (transaction,) = transactions(transport)
    assert transaction["tags"]["http.status_code"] == "404"
