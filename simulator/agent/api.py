"""The agent's HTTP face (FastAPI): a thin layer over `simulator.agent.core.Agent`.

Every `/v1/*` request must come from an allowed sign-in origin (checked before routing, in
`OriginGuard`, so a refused request never reaches the card); CORS answers exactly as
docs/signin-protocol.md says. The PIN dialog (`/pin/*`) is the agent's own page: its forms
are accepted only from the agent's own origin and with the request's csrf token. Every
request must name the agent's own host (127.0.0.1 or localhost with its port), which keeps
DNS-rebinding pages out. Every answer carries the headers of `simulator.agent.headers`.

No Swagger UI or ReDoc page: FastAPI's load their script from a CDN, and a script that is not
ours on the origin that can make the card sign is cross-site scripting waiting to happen.
The OpenAPI document stays at `/openapi.json` (plain JSON, nothing runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.agent.core import Agent, AgentEvent, SignRequest
from simulator.agent.dialog import render_dialog, render_simple
from simulator.agent.headers import SecurityHeaders
from simulator.agent.protocol import (
    CHALLENGE_MAX,
    CHALLENGE_MIN,
    MAX_WAIT,
    AgentError,
    ForbiddenError,
    InvalidRequestError,
    OriginNotAllowedError,
    RequestState,
    UnknownRequestError,
)

log = logging.getLogger("careid.agent.http")

MAX_BODY = 16 * 1024
KEEPALIVE_SECONDS = 15
_CORS_METHODS = "GET, POST"
_CORS_HEADERS = "Content-Type"


# --- documented shapes (OpenAPI) ------------------------------------------------------------------


class CardModel(BaseModel):
    uuid: str | None = Field(description="Care Identity UUID (subject serialNumber of 9A)")
    name: str | None = Field(description="card holder (subject CN of the 9A certificate)")
    serial: str | None = Field(description="card number")
    label: str | None = Field(description="PIV application label")


class ReaderModel(BaseModel):
    name: str
    card: CardModel | None


class StatusModel(BaseModel):
    agent: Literal["careid-agent"]
    version: str
    policy: Literal["legacy", "connect"]
    headless: bool = Field(description="true while headless PINs (automation) are on")
    readers: list[ReaderModel]


class SignBody(BaseModel):
    challenge: str = Field(
        min_length=CHALLENGE_MIN, max_length=CHALLENGE_MAX, description="base64url"
    )
    reader: str | None = Field(default=None, description="reader name (default: first card)")
    session_end_url: str | None = Field(
        default=None, description="https URL on the request's origin, called on removal (legacy)"
    )


class RequestErrorModel(BaseModel):
    code: Literal["cancelled", "card_removed", "pin_locked", "no_card", "card_error"]
    message: str


class SignedCardModel(BaseModel):
    uuid: str | None
    serial: str | None


class ResultModel(BaseModel):
    signature: str = Field(description="base64url signature over the sign-in message")
    certificate: str = Field(description="base64url DER of the 9A certificate")
    algorithm: Literal["RSA-PKCS1-SHA256", "ECDSA-P256-SHA256"]
    origin: str
    challenge: str
    card: SignedCardModel


class SignRequestModel(BaseModel):
    request_id: str
    state: Literal["pin_required", "signed", "cancelled", "failed"]
    dialog_url: str | None
    error: RequestErrorModel | None
    result: ResultModel | None


class ErrorModel(BaseModel):
    error: str
    error_description: str | None = None


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorModel} for status in statuses}


# --- the guard: hosts, origins, CORS -------------------------------------------------------------


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    payload = _json_bytes(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class OriginGuard:
    """Pure ASGI middleware: the host check for every request, and the origin check and CORS
    headers for `/v1/*`, before any route (and so before any card command)."""

    def __init__(self, app: ASGIApp, agent: Agent, hosts: set[str]) -> None:
        self.app = app
        self.agent = agent
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if (headers.get("host") or "").lower() not in self.hosts:
            await _send_json(send, 403, {"error": "host_not_allowed"}, [])
            return
        if not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        vary = [(b"vary", b"Origin")]
        try:
            origin = self.agent.check_origin(headers.get("origin"))
        except OriginNotAllowedError as exc:
            log.info(
                "refused %s %s from origin %r",
                scope["method"],
                scope["path"],
                headers.get("origin"),
            )
            await _send_json(send, exc.status, exc.to_json(), vary)
            return
        # The browser's serialised origin, echoed as sent (it is the allowed one).
        cors = [(b"access-control-allow-origin", (headers.get("origin") or origin).encode())]
        if scope["method"] == "OPTIONS":
            extra = [
                (b"access-control-allow-methods", _CORS_METHODS.encode()),
                (b"access-control-allow-headers", _CORS_HEADERS.encode()),
            ]
            if (headers.get("access-control-request-private-network") or "").lower() == "true":
                extra.append((b"access-control-allow-private-network", b"true"))
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [*cors, *extra, *vary],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *cors, *vary]
            await send(message)

        await self.app(scope, receive, send_with_cors)


# --- the app -------------------------------------------------------------------------------------


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _dialog_headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }


async def wait_for_change(
    agent: Agent, request_id: str, timeout: float, changed: Callable[[SignRequest], bool]
) -> SignRequest:
    """Wait (without a thread) until `changed(request)` or `timeout` seconds passed."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_event(event: AgentEvent) -> None:
        if event.kind == "request" and event.data.id == request_id:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    _, unsubscribe = agent.subscribe(on_event)
    try:
        deadline = loop.time() + max(0.0, timeout)
        while True:
            current = agent.request(request_id)
            left = deadline - loop.time()
            if changed(current) or left <= 0 or agent.stopping:
                return current
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(1.0, left))
    finally:
        unsubscribe()


def create_app(agent: Agent, own_origin: str) -> FastAPI:
    """The FastAPI app of one agent. `own_origin` is `http://127.0.0.1:<port>`."""
    port = own_origin.rsplit(":", 1)[-1]
    own_origins = {own_origin, f"http://localhost:{port}"}
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    app = FastAPI(
        title="careid Identity Agent",
        docs_url=None,  # Swagger UI and ReDoc load third-party script: never on this origin
        redoc_url=None,
        version=agent.status().version,
        summary="Credential Management emulation: card status, events, sign requests, PIN dialog",
        description=(
            "The smartcard sign-in protocol of docs/signin-protocol.md. Every `/v1/*` request "
            "needs an `Origin` header naming an allowed sign-in origin (403 otherwise). The "
            "PIN is entered only in the agent's own dialog page (`/pin/{id}`)."
        ),
    )
    app.add_middleware(OriginGuard, agent=agent, hosts=hosts)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so refusals get them too

    def dialog_url(request_id: str) -> str:
        return f"{own_origin}/pin/{request_id}"

    def request_json(sign_request: SignRequest) -> dict[str, Any]:
        return sign_request.to_json(dialog_url(sign_request.id))

    @app.exception_handler(AgentError)
    async def agent_error(_: Request, exc: AgentError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    async def in_thread(call: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(call)

    @app.get("/v1/status", response_model=StatusModel, tags=["v1"])
    async def status() -> dict[str, Any]:
        """Readers and the card in each."""
        return agent.status().to_json()

    @app.get(
        "/v1/events",
        tags=["v1"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events() -> StreamingResponse:
        """Server-sent events: `ready` (the status), then `card-inserted` / `card-removed`
        with `{"reader", "uuid"}`."""
        return StreamingResponse(
            _event_stream(agent),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.post(
        "/v1/sign",
        tags=["v1"],
        status_code=202,
        responses={
            200: {"model": SignRequestModel, "description": "signed at once"},
            202: {"model": SignRequestModel, "description": "PIN required: open dialog_url"},
            **_errors(400, 403, 409, 423),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SignBody.model_json_schema()}},
            }
        },
    )
    async def sign(request: Request) -> JSONResponse:
        """Ask the card to sign a challenge bound to the request's origin."""
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise InvalidRequestError("the body is too large")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequestError("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise InvalidRequestError("the body must be a JSON object")
        if "challenge" not in body:
            raise InvalidRequestError("challenge is required")
        call = partial(
            agent.sign,
            request.headers.get("origin"),
            body["challenge"],
            reader=body.get("reader"),
            session_end_url=body.get("session_end_url"),
        )
        result: SignRequest = await in_thread(call)
        code = 202 if result.state is RequestState.PIN_REQUIRED else 200
        return JSONResponse(request_json(result), status_code=code)

    @app.get(
        "/v1/requests/{request_id}",
        tags=["v1"],
        response_model=SignRequestModel,
        responses=_errors(400, 403, 404),
    )
    async def get_request(
        request_id: str,
        wait: float | None = Query(default=None, description="long-poll up to N ≤ 25 seconds"),
    ) -> dict[str, Any]:
        """The state of a sign request."""
        current = agent.request(request_id)
        if wait is not None:
            if not wait >= 0:
                raise InvalidRequestError("wait must be a number of seconds ≥ 0")
            if not current.done:  # a finished request never changes: answer at once
                current = await wait_for_change(
                    agent, request_id, min(wait, MAX_WAIT), lambda r: r.done
                )
        return request_json(current)

    # -- the PIN dialog -------------------------------------------------------------------------

    def page(html: str, nonce: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(html, status_code=status_code, headers=_dialog_headers(nonce))

    def refused(title: str, text: str, status_code: int) -> HTMLResponse:
        return page(render_simple(title, text), secrets.token_urlsafe(12), status_code)

    def from_dialog(request: Request) -> bool:
        return (request.headers.get("origin") or "").lower() in own_origins

    @app.get("/pin/{request_id}", response_class=HTMLResponse, tags=["dialog"])
    async def dialog(request_id: str, notice: str | None = None) -> HTMLResponse:
        """The PIN dialog page (opened by the sign-in page with `window.open`)."""
        try:
            current = agent.request(request_id)
        except UnknownRequestError:
            return refused("No such request", "This sign-in request is unknown or over.", 404)
        nonce = secrets.token_urlsafe(16)
        return page(render_dialog(current, nonce=nonce, notice=notice), nonce)

    async def form_of(request: Request) -> dict[str, str]:
        if len(await request.body()) > MAX_BODY:
            raise InvalidRequestError("the form is too large")
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}

    @app.post("/pin/{request_id}", tags=["dialog"], status_code=303)
    async def submit_pin(request_id: str, request: Request) -> Response:
        """The dialog's form: `pin` and `csrf`, from the dialog page only."""
        if not from_dialog(request):
            return refused("Refused", "The PIN is accepted from the agent's own page only.", 403)
        form = await form_of(request)
        try:
            await in_thread(
                partial(_submit, agent, request_id, form.get("pin", ""), form.get("csrf", ""))
            )
        except UnknownRequestError:
            return refused("No such request", "This sign-in request is unknown or over.", 404)
        except ForbiddenError:
            return refused("Refused", "The form is out of date; open the dialog again.", 403)
        except BadFormat:
            return RedirectResponse(f"/pin/{request_id}?notice=format", status_code=303)
        except AgentError:
            pass  # the request is over: the page shows how it ended
        return RedirectResponse(f"/pin/{request_id}", status_code=303)

    @app.post("/pin/{request_id}/cancel", tags=["dialog"], status_code=303)
    async def cancel(request_id: str, request: Request) -> Response:
        """The dialog's Cancel button (`csrf`)."""
        if not from_dialog(request):
            return refused("Refused", "Cancel is accepted from the agent's own page only.", 403)
        form = await form_of(request)
        try:
            agent.cancel(request_id, csrf=form.get("csrf", ""))
        except UnknownRequestError:
            return refused("No such request", "This sign-in request is unknown or over.", 404)
        except ForbiddenError:
            return refused("Refused", "The form is out of date; open the dialog again.", 403)
        except AgentError:
            pass
        return RedirectResponse(f"/pin/{request_id}", status_code=303)

    @app.get("/pin/{request_id}/state", tags=["dialog"], include_in_schema=False)
    async def dialog_state(request_id: str, wait: float = 0.0) -> dict[str, Any]:
        """The dialog page's own look at its request: has it ended while the page is open?"""
        current = agent.request(request_id)
        if wait > 0 and not current.done:
            current = await wait_for_change(
                agent, request_id, min(wait, MAX_WAIT), lambda r: r.done
            )
        return {"state": current.state.value}

    return app


class BadFormat(Exception):
    """The dialog's PIN is not 6-8 digits (nothing was sent to the card)."""


def _submit(agent: Agent, request_id: str, pin: str, csrf: str) -> None:
    from simulator.agent.core import PinOutcome  # noqa: PLC0415

    result = agent.submit_pin(request_id, pin, csrf=csrf)
    if result.outcome is PinOutcome.BAD_FORMAT:
        raise BadFormat


async def _event_stream(agent: Agent) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[AgentEvent] = asyncio.Queue(maxsize=256)

    def put(event: AgentEvent) -> None:
        if queue.full():
            queue.get_nowait()  # a client that does not read loses the oldest event
        queue.put_nowait(event)

    def on_event(event: AgentEvent) -> None:
        if event.kind in ("card-inserted", "card-removed"):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(put, event)

    status, unsubscribe = agent.subscribe(on_event)
    try:
        yield _sse("ready", status.to_json())
        idle = 0
        while not agent.stopping:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=1.0)
            except TimeoutError:
                idle += 1
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0
                    yield ": keep-alive\n\n"
                continue
            idle = 0
            yield _sse(event.kind, event.data)
    finally:
        unsubscribe()
