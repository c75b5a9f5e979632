"""A stand-in sign-in origin for the agent suite: HTTPS on 127.0.0.1 with a test-PKI server
certificate. It records the session-end calls the agent makes and serves a small sign-in
page whose script talks to the agent as a sign-in service's page would (status, sign,
`window.open` of the PIN dialog, long poll).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 64 * 1024

SIGNIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>careid test sign-in page</title></head>
<body>
<h1>Test sign-in page</h1>
<p id="phase">starting</p>
<pre id="result" style="white-space: pre-wrap; word-break: break-all"></pre>
<button id="start">Log in with my Care Identity</button>
<script>
const options = __OPTIONS__;
const show = (phase, data) => {
  document.getElementById("phase").textContent = phase;
  if (data !== undefined) document.getElementById("result").textContent = JSON.stringify(data);
};
async function signIn() {
  const status = await (await fetch(options.agent + "/v1/status")).json();
  show("status", status);
  const body = {challenge: options.challenge};
  if (options.reader) body.reader = options.reader;
  const answer = await fetch(options.agent + "/v1/sign", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  let request = await answer.json();
  if (answer.status === 202) {
    window.open(request.dialog_url, "careid-pin", "popup,width=520,height=600");
    show("pin_required", request);
    for (let i = 0; i < 10 && request.state === "pin_required"; i++) {
      request = await (await fetch(
        options.agent + "/v1/requests/" + request.request_id + "?wait=20")).json();
    }
  }
  show(request.state, request);
}
document.getElementById("start").addEventListener("click", () => {
  signIn().catch((error) => show("error", String(error)));
});
</script>
</body></html>
"""


@dataclass(frozen=True)
class SessionEndCall:
    path: str
    body: Any
    at: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the suite reports what matters."""

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            self._answer(204, b"", "image/x-icon")
            return
        if url.path != "/signin":
            self._answer(404, b"not found", "text/plain")
            return
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        options = json.dumps(
            {
                "agent": query.get("agent", ""),
                "challenge": query.get("challenge", ""),
                "reader": query.get("reader"),
            }
        ).replace("<", "\\u003c")
        page = SIGNIN_PAGE.replace("__OPTIONS__", options)
        self._answer(200, page.encode(), "text/html; charset=utf-8")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, MAX_BODY))
        if not self.path.startswith("/session-end/"):
            self._answer(404, b"not found", "text/plain")
            return
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.server.site.record(SessionEndCall(self.path, body, time.time()))
        self._answer(204, b"", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: SignInSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser dropping a connection (or refusing the test certificate) is no error of
        the agent's: keep the output quiet."""


class SignInSite:
    """`with SignInSite(chain, key) as site:` serves `site.origin` until the block ends."""

    def __init__(self, chain: Path, key: Path, *, port: int = 0) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(chain), str(key))
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.site = self
        # The handshake happens in the handler's thread, so a browser's idle speculative
        # connection never holds up the accepting loop.
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port: int = self._server.server_address[1]
        self.origin = f"https://127.0.0.1:{self.port}"
        self.calls: list[SessionEndCall] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def record(self, call: SessionEndCall) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def session_end_url(self, name: str) -> str:
        return f"{self.origin}/session-end/{name}"

    def calls_to(self, name: str) -> list[SessionEndCall]:
        with self._changed:
            return [call for call in self.calls if call.path == f"/session-end/{name}"]

    def wait_for_call(self, name: str, timeout: float) -> SessionEndCall | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                calls = [c for c in self.calls if c.path == f"/session-end/{name}"]
                left = deadline - time.monotonic()
                if calls or left <= 0:
                    return calls[0] if calls else None
                self._changed.wait(left)

    def signin_url(self, agent: str, challenge: str, reader: str | None = None) -> str:
        from urllib.parse import urlencode  # noqa: PLC0415

        query = {"agent": agent, "challenge": challenge}
        if reader:
            query["reader"] = reader
        return f"{self.origin}/signin?{urlencode(query)}"

    def start(self) -> SignInSite:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"careid-signin-site-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> SignInSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
