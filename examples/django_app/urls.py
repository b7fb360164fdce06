"""Routes of the Django example."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import path


def order(request: HttpRequest, order_id: int) -> JsonResponse:
    logging.getLogger("shop").info("order %s requested", order_id)
    if order_id == 0:
        raise Http404("no such order")
    if order_id == 13:
        raise RuntimeError(f"order {order_id} cannot be priced")
    return JsonResponse({"id": order_id})


urlpatterns = [path("orders/<int:order_id>", order, name="order")]
