"""A FastAPI app behind AsgiMiddleware.

Run: ``SENTRY_DSN=https://<key>@<host>/<project> uvicorn --app-dir examples fastapi_app:app``.
``/orders/{id}`` logs a JSON line with the trace ids; ``/orders/13`` crashes: the answer
is a JSON 500 with the event id in ``X-Sentry-Event-Id``; ``/orders/0`` is a 404.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, HTTPException

from sentry_logging_std import AsgiMiddleware, JsonFormatter

handler = logging.StreamHandler()
handler.setFormatter(JsonFormatter(service_name="shop"))
logging.basicConfig(level=logging.INFO, handlers=[handler])

app = FastAPI()
# The one line (inside Starlette's own error middleware, so crashes reach it first).
app.add_middleware(
    AsgiMiddleware,
    service="shop",
    traces_sample_rate=float(os.environ.get("TRACES_SAMPLE_RATE", "1.0")),
)


@app.get("/orders/{order_id}")
async def order(order_id: int) -> dict[str, object]:
    logging.getLogger("shop").info("order %s requested", order_id)
    if order_id == 0:
        raise HTTPException(status_code=404, detail="no such order")
    if order_id == 13:
        raise RuntimeError(f"order {order_id} cannot be priced")
    return {"id": order_id}
