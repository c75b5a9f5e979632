"""A tiny relying party for browser sign-in tests, over HTTPS on loopback.

`/start` sends the browser to the provider (code flow, PKCE S256, `acr_values`); `/callback`
checks `state`, redeems the code (client_secret_post), verifies the ID token (signature from
the provider's JWKS, `iss`, `aud`, `nonce`), asks userinfo for the name and shows who signed
in; `/backchannel` records
the logout tokens the provider sends.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Pending:
    nonce: str
    verifier: str


@dataclass
class BrowserRelyingParty:
    """`with BrowserRelyingParty(chain, key, ca_bundle) as rp:`; register `rp.redirect_uri` and
    `rp.backchannel_uri` with the provider, then set `rp.issuer`, `client_id`, `secret`."""

    certificate: tuple[Path, Path]
    ca_bundle: Path
    acr_values: str = "AAL2_OR_AAL3_ANY"
    issuer: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    port: int = field(default_factory=free_port)
    signed_in: list[dict[str, Any]] = field(default_factory=list)
    logout_tokens: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/start", self._start),
                Route("/callback", self._callback),
                Route("/backchannel", self._backchannel, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            ssl_certfile=str(self.certificate[0]),
            ssl_keyfile=str(self.certificate[1]),
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="test-rp", daemon=True)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.base}/callback"

    @property
    def backchannel_uri(self) -> str:
        return f"{self.base}/backchannel"

    def _http(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca_bundle)))

    # -- routes (sync: Starlette runs them on its thread pool) -------------------------------

    def _start(self, request: Request) -> Response:
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        with self._lock:
            self._pending[state] = Pending(nonce, verifier)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "acr_values": self.acr_values,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        return RedirectResponse(f"{self.issuer}/authorize?{urlencode(query)}", status_code=302)

    def _callback(self, request: Request) -> Response:
        params = request.query_params
        with self._lock:
            pending = self._pending.pop(params.get("state", ""), None)
        if pending is None or "code" not in params:
            self.errors.append(f"callback: {dict(params)}")
            return HTMLResponse("<h1 id='error'>Sign-in failed</h1>", 400)
        if params.get("iss") not in (None, self.issuer):
            self.errors.append(f"callback iss {params.get('iss')}")
            return HTMLResponse("<h1 id='error'>Wrong issuer</h1>", 400)
        with self._http() as http:
            answer = http.post(
                f"{self.issuer}/access_token",
                data={
                    "grant_type": "authorization_code",
                    "code": params["code"],
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": pending.verifier,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            if answer.status_code != 200:
                self.errors.append(f"token: {answer.status_code} {answer.text}")
                return HTMLResponse("<h1 id='error'>Token request failed</h1>", 400)
            tokens = answer.json()
            keys = KeySet.import_key_set(http.get(f"{self.issuer}/connect/jwk_uri").json())
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            userinfo = http.get(f"{self.issuer}/userinfo", headers=bearer).json()
        claims = dict(jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims)
        problems = [
            name
            for name, ok in (
                ("iss", claims.get("iss") == self.issuer),
                ("aud", claims.get("aud") in (self.client_id, [self.client_id])),
                ("nonce", claims.get("nonce") == pending.nonce),
                ("exp", int(claims.get("exp", 0)) > time.time()),
                ("userinfo sub", userinfo.get("sub") == claims.get("sub")),
            )
            if not ok
        ]
        if problems:
            self.errors.append(f"ID token: {problems}")
            return HTMLResponse("<h1 id='error'>Bad ID token</h1>", 400)
        self.signed_in.append(claims)
        amr = " ".join(str(value) for value in claims.get("amr", []))
        rows = {
            "uuid": claims["sub"],
            "name": f"{userinfo.get('given_name', '')} {userinfo.get('family_name', '')}".strip(),
            "acr": claims.get("acr", ""),
            "amr": amr,
            "sid": claims.get("sid", ""),
        }
        cells = "".join(
            f"<dt>{key}</dt><dd id='{key}'>{html.escape(str(value))}</dd>"
            for key, value in rows.items()
        )
        return HTMLResponse(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Test RP</title>"
            "</head><body style='font-family:sans-serif'><h1 id='welcome'>Signed in</h1>"
            f"<dl>{cells}</dl></body></html>"
        )

    async def _backchannel(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(errors="replace")))
        with self._lock:
            self.logout_tokens.append(form.get("logout_token", ""))
        return PlainTextResponse("ok")

    # -- lifetime ---------------------------------------------------------------------------

    def wait_for_logout(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while not self.logout_tokens and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.logout_tokens)

    def __enter__(self) -> BrowserRelyingParty:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test relying party did not start at {self.base}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
