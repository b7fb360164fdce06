"""A FastAPI app behind AsgiMiddleware.

Run: ``SENTRY_DSN=https://<key>@<host>/<project> uvicorn --app-dir examples fastapi_app:app``.
``/orders/{id}`` logs a JSON line with the trace ids; ``/orders/13`` crashes: the answer
is a JSON 500 with the event id in ``X-Sentry-Event-Id``; ``/orders/0`` is a 404.
The websocket ``/ws`` echoes text; the text ``crash`` makes it fail: the error is
reported and the socket closed with code 1011 (serving websockets needs uvicorn's
``websockets`` or ``wsproto`` extra).
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, HTTPException, WebSocket

from sentry_logging_std import AsgiMiddleware, JsonFormatter

handler = logging.StreamHandler()
handler.setFormatter(JsonFormatter(service_name="shop"))
logging.basicConfig(level=logging.INFO, handlers=[handler])

api = FastAPI()


@api.get("/orders/{order_id}")
async def order(order_id: int) -> dict[str, object]:
    logging.getLogger("shop").info("order %s requested", order_id)
    if order_id == 0:
        raise HTTPException(status_code=404, detail="no such order")
    if order_id == 13:
        raise RuntimeError(f"order {order_id} cannot be priced")
    return {"id": order_id}


@api.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "crash":
            raise RuntimeError("the socket handler failed")
        await websocket.send_text(text)


# The one line: serve this instead of ``api``. Wrapping the whole app puts the middleware
# outside sentry-sdk's Starlette integration, so a W3C traceparent is read before the
# transaction starts. (``api.add_middleware(AsgiMiddleware, ...)`` works too, except
# for traceparent: see docs/web.md.)
app = AsgiMiddleware(
    api,
    service="shop",
    traces_sample_rate=float(os.environ.get("TRACES_SAMPLE_RATE", "1.0")),
)
