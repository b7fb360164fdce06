"""AsgiMiddleware through real ASGI calls (a bare app and FastAPI) and a capturing transport."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import sentry_sdk
from fastapi import WebSocket  # resolved by name in a route's annotations

from sentry_logging_std import AsgiMiddleware

from .conftest import TEST_DSN, CapturingTransport
from .web_servers import (
    asgi_call,
    asgi_request,
    asgi_websocket,
    headers_of,
    json_lines,
    transactions,
)


class OrderFailed(Exception):
    pass


async def crashing_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    raise OrderFailed("order 7 failed")


async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    raise OrderFailed("mid-stream")


def middleware(app: Any, transport: CapturingTransport, **options: Any) -> AsgiMiddleware:
    options.setdefault("dsn", TEST_DSN)
    options.setdefault("transport", transport)
    return AsgiMiddleware(app, **options)


def test_crash_is_one_event_a_json_500_and_the_event_id_header(
    transport: CapturingTransport,
) -> None:
    """An unhandled exception: one unhandled event with request and tags, JSON 500, id header."""
    app = middleware(crashing_app, transport, service="shop", logger="shop.http")
    with json_lines("shop.http") as lines:
        response = asgi_call(
            app,
            "/orders/7",
            method="POST",
            headers={"Authorization": "Bearer s3cret", "Cookie": "a=b", "X-Trace": "t1"},
            body=b"card=4242",
        )
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 500,
        "err_message": "Internal Server Error",
        "success": False,
    }
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]
    assert event["exception"]["values"][-1]["mechanism"] == {"type": "asgi", "handled": False}
    assert event["request"]["method"] == "POST"
    headers = headers_of(event)
    assert headers["x-trace"] == "t1"
    assert headers["authorization"] == "[Filtered]"
    assert headers["cookie"] == "[Filtered]"
    assert event["request"].get("data", "[Filtered]") == "[Filtered]"
    assert "s3cret" not in str(event)
    assert event["tags"]["http.status_code"] == "500"
    assert event["tags"]["http.method"] == "POST"
    assert event["tags"]["http.route"] == "/orders/7"
    assert event["tags"]["service"] == "shop"
    (line,) = lines
    assert "OrderFailed: order 7 failed" in line["error"]["stack_trace"]
    assert line["sentry"]["event_id"] == event["event_id"]


def test_body_with_send_default_pii(transport: CapturingTransport) -> None:
    """With send_default_pii the body the app received is attached to the event."""
    app = middleware(crashing_app, transport, send_default_pii=True)
    asgi_call(app, "/pay", method="POST", body=b"card=4242", headers={"Cookie": "a=b"})
    (event,) = transport.events
    assert event["request"]["data"] == "card=4242"
    assert headers_of(event)["cookie"] == "[Filtered]"


def test_crash_after_the_response_started_ends_it(transport: CapturingTransport) -> None:
    """Once the response has started: one event, no second response, the response unfinished."""
    app = middleware(streaming_app, transport)
    response, messages = asyncio.run(asgi_request(app, "/stream"))
    assert response is not None
    assert response.status == 200
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[-1]["more_body"] is True  # the server closes the connection
    (event,) = transport.events
    assert event["tags"]["http.status_code"] == "200"


def test_concurrent_requests_never_share_a_scope(
    transport: CapturingTransport, make_handler: Any
) -> None:
    """Two interleaved requests on one event loop keep their own tags and user."""
    make_handler("shop", capture="sync")

    async def run() -> None:
        arrived = {name: asyncio.Event() for name in ("alice", "bob")}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            name = scope["path"].strip("/")
            sentry_sdk.set_tag("customer", name)
            sentry_sdk.set_user({"id": name})
            arrived[name].set()
            other = "bob" if name == "alice" else "alice"
            await asyncio.wait_for(arrived[other].wait(), 10)
            logging.getLogger("shop").error("checkout failed for %s", name)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        wrapped = middleware(app, transport)
        await asyncio.gather(asgi_request(wrapped, "/alice"), asgi_request(wrapped, "/bob"))

    asyncio.run(run())
    events = transport.events
    assert len(events) == 2
    for event in events:
        name = event["logentry"]["params"][0]
        assert event["tags"]["customer"] == name
        assert event["user"]["id"] == name
        assert event["tags"]["http.route"] == f"/{name}"


def test_lifespan_passes_through(transport: CapturingTransport) -> None:
    """Non-http scopes reach the application untouched."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def ignore(message: Any) -> None:
        pass

    asyncio.run(middleware(app, transport)({"type": "lifespan"}, nothing, ignore))
    assert seen == ["lifespan"]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    "headers",
    [
        {"sentry-trace": f"{TRACE_ID}-{PARENT_ID}-1"},
        {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    ],
    ids=["sentry-trace", "w3c-traceparent"],
)
def test_incoming_trace_is_continued(
    transport: CapturingTransport, headers: dict[str, str]
) -> None:
    """The transaction and the request's JSON lines join the caller's trace."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        logging.getLogger("shop").info("working")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = middleware(app, transport, traces_sample_rate=1.0)
    with json_lines("shop") as lines:
        asgi_call(wrapped, "/work", headers=headers)
    (transaction,) = transactions(transport)
    trace = transaction["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_ID
    assert transaction["transaction"] == "/work"
    assert transaction["tags"]["http.status_code"] == "204"
    assert lines[0]["trace"]["id"] == TRACE_ID
    assert lines[0]["transaction"]["id"] == trace["span_id"]


# --- FastAPI, installed with app.add_middleware ------------------------------------------


@pytest.fixture
def fastapi_app(transport: CapturingTransport) -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI()
    app.add_middleware(
        AsgiMiddleware, dsn=TEST_DSN, transport=transport, traces_sample_rate=1.0, service="api"
    )

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        logging.getLogger("shop").info("item %s", item_id)
        if item_id == 0:
            raise HTTPException(status_code=404, detail="no such item")
        if item_id == 13:
            raise OrderFailed(f"item {item_id} is cursed")
        if item_id == 503:
            raise HTTPException(status_code=503, detail="try later")
        return {"id": item_id}

    return app


def test_fastapi_crash_is_one_event_named_by_route(
    transport: CapturingTransport, fastapi_app: Any
) -> None:
    """A crashing FastAPI route: JSON 500, one event (not also the integration's), route tag."""
    response = asgi_call(fastapi_app, "/items/13")
    assert response.status == 500
    assert response.json()["err_message"] == "Internal Server Error"
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]
    assert event["tags"]["http.route"] == "/items/{item_id}"
    assert event["tags"]["service"] == "api"
    (transaction,) = transactions(transport)
    assert transaction["transaction"] == "/items/{item_id}"
    assert transaction["tags"]["http.status_code"] == "500"


def test_fastapi_http_exception_4xx_is_not_an_error(
    transport: CapturingTransport, fastapi_app: Any
) -> None:
    """HTTPException(404) stays FastAPI's 404 and sends no error event."""
    response = asgi_call(fastapi_app, "/items/0")
    assert response.status == 404
    assert response.json() == {"detail": "no such item"}
    assert transport.events == []
    (transaction,) = transactions(transport)
    assert transaction["tags"]["http.status_code"] == "404"


def test_fastapi_http_exception_5xx_keeps_its_answer(
    transport: CapturingTransport, fastapi_app: Any
) -> None:
    """HTTPException(503) is the app's own answer: kept as it is, never replaced by the JSON 500."""
    response = asgi_call(fastapi_app, "/items/503")
    assert response.status == 503
    assert response.json() == {"detail": "try later"}
    assert len(transport.events) <= 1  # sentry-sdk's Starlette integration decides; never twice


# --- websockets ---------------------------------------------------------------------------


async def echo_socket(scope: Any, receive: Any, send: Any) -> None:
    """Accept, echo every text, close normally; the text "crash" makes it fail."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    sentry_sdk.set_tag("room", scope["path"].strip("/"))
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["text"] == "crash":
            raise OrderFailed("the socket handler failed")
        if message["text"] == "bye":
            await send({"type": "websocket.close", "code": 1000})
            return
        logging.getLogger("shop").error("echoing %s", message["text"])
        await send({"type": "websocket.send", "text": message["text"]})


def test_websocket_passes_through_in_its_own_scope(
    transport: CapturingTransport, make_handler: Any
) -> None:
    """A websocket's messages are untouched; its events carry its own scope, tags and route."""
    make_handler("shop", capture="sync")
    app = middleware(echo_socket, transport, service="chat")
    sent = asyncio.run(asgi_websocket(app, "/lobby", ["hi", "bye"]))
    assert sent == [
        {"type": "websocket.accept"},
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.close", "code": 1000},
    ]
    sentry_sdk.capture_message("after the session")
    event, after = transport.events
    assert event["logentry"]["formatted"] == "echoing hi"
    assert event["tags"]["room"] == "lobby"
    assert event["tags"]["service"] == "chat"
    assert event["tags"]["http.route"] == "/lobby"
    assert "exception" not in event
    assert "room" not in after.get("tags", {})  # the session's scope ended with it


def test_websocket_crash_is_one_event_and_closes_1011(transport: CapturingTransport) -> None:
    """A crash in a websocket handler: reported once, the socket closed with 1011, no HTTP 500."""
    app = middleware(echo_socket, transport, logger="shop.ws")
    with json_lines("shop.ws") as lines:
        sent = asyncio.run(asgi_websocket(app, "/lobby", ["crash"]))
    assert sent == [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1011}]
    (event,) = transport.events
    (value,) = event["exception"]["values"]
    assert value["type"] == "OrderFailed"
    assert value["mechanism"] == {"type": "asgi", "handled": False}
    assert event["tags"]["room"] == "lobby"
    assert event["tags"]["http.status_code"] == "101"
    (line,) = lines
    assert line["sentry"]["event_id"] == event["event_id"]


def test_websocket_crash_before_accept_closes_it(transport: CapturingTransport) -> None:
    """Failing before the handshake is accepted: closed (the server answers 403), one event."""

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise OrderFailed("no room")

    sent = asyncio.run(asgi_websocket(middleware(refuse, transport), "/lobby", []))
    assert sent == [{"type": "websocket.close", "code": 1011}]
    assert len(transport.events) == 1


def test_fastapi_websocket_crash(transport: CapturingTransport) -> None:
    """A FastAPI websocket route that fails: one event, the socket closed with 1011."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        raise OrderFailed(f"cannot echo {text}")

    app = middleware(api, transport)
    sent = asyncio.run(asgi_websocket(app, "/ws", ["hi"]))
    assert sent[0]["type"] == "websocket.accept", sent
    assert sent[-1] == {"type": "websocket.close", "code": 1011}
    assert not [m for m in sent if m["type"].startswith("http.")]
    (event,) = transport.events
    assert event["exception"]["values"][-1]["value"] == "cannot echo hi"


# --- a plain 500, and FastAPI wrapped from the outside ------------------------------------


def test_an_apps_own_500_passes_through(transport: CapturingTransport) -> None:
    """A 500 the application answers on purpose (no exception) reaches the client unchanged."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": [(b"x-own", b"1")]})
        await send({"type": "http.response.body", "body": b"part ", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})

    response = asgi_call(middleware(app, transport), "/own")
    assert response.status == 500
    assert response.headers == {"x-own": "1"}
    assert response.body == b"part two"
    assert transport.events == []


def test_a_500_page_followed_by_its_crash_is_replaced(transport: CapturingTransport) -> None:
    """An error page sent just before the exception (as Starlette's is): the JSON 500 instead."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"Internal Server Error"})
        raise OrderFailed("after the page")

    response = asgi_call(middleware(app, transport), "/page")
    assert response.status == 500
    assert response.json()["err_message"] == "Internal Server Error"
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]


def test_a_large_500_is_not_held_back_whole(transport: CapturingTransport) -> None:
    """Past 64 KiB a 500 answer goes out as it streams; a crash then only cuts it."""
    chunk = b"x" * 40_000
    seen_before_crash: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        for _ in range(3):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        seen_before_crash.append(len(sent))
        raise OrderFailed("mid-stream")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/big", "headers": [], "query_string": b""}
    asyncio.run(middleware(app, transport)(scope, receive, send))
    assert seen_before_crash == [4]  # start and three chunks were on their way
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [500]
    assert b"".join(m.get("body", b"") for m in sent) == chunk * 3
    assert len(transport.events) == 1


@pytest.fixture
def wrapped_fastapi(transport: CapturingTransport) -> Any:
    """A FastAPI app wrapped as a whole: outside sentry-sdk's Starlette integration."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        logging.getLogger("shop").info("item %s", item_id)
        if item_id == 13:
            raise OrderFailed(f"item {item_id} is cursed")
        return {"id": item_id}

    return middleware(api, transport, traces_sample_rate=1.0)


def test_wrapped_fastapi_crash_is_our_json_500(
    transport: CapturingTransport, wrapped_fastapi: Any
) -> None:
    """Starlette's own plain-text 500 for the crash is replaced by the JSON answer; one event."""
    response = asgi_call(wrapped_fastapi, "/items/13")
    assert response.status == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["success"] is False
    (event,) = transport.events
    assert response.headers["x-sentry-event-id"] == event["event_id"]
    assert event["tags"]["http.route"] == "/items/{item_id}"


def test_wrapped_fastapi_continues_a_w3c_trace(
    transport: CapturingTransport, wrapped_fastapi: Any
) -> None:
    """Outside Starlette's integration, a W3C traceparent starts the request's transaction."""
    with json_lines("shop") as lines:
        response = asgi_call(
            wrapped_fastapi, "/items/5", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        )
    assert response.status == 200
    (transaction,) = transactions(transport)
    assert transaction["transaction"] == "/items/{item_id}"
    trace = transaction["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_ID
    assert lines[0]["trace"]["id"] == TRACE_ID
