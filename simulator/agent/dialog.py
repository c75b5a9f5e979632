"""The PIN dialog page: what the user sees in the pop-up the sign-in page opens.

Rendered with Jinja2 (autoescaped) from the request's state. The page carries no PIN and
loads nothing from elsewhere; its one script (with a per-page nonce) waits for the request
to end while the dialog is open (card pulled, timed out) and shows the new state.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment

from simulator.agent.core import SignRequest
from simulator.agent.protocol import FailureCode, RequestState

LOCKED_TEXT = "Your smartcard is locked. Contact your Registration Authority to unlock it."
_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} — Care Identity</title>
<style nonce="{{ nonce }}">
body { font-family: Arial, Helvetica, sans-serif; margin: 0; background: #f0f4f5; color: #212b32; }
header { background: #005eb8; color: #fff; padding: 12px 20px; font-weight: bold; }
main { max-width: 420px; margin: 24px auto; background: #fff; padding: 20px 24px;
       border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.2); }
h1 { font-size: 1.3rem; margin: 0 0 12px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; margin: 0 0 16px; }
dt { color: #4c6272; } dd { margin: 0; word-break: break-all; }
label { display: block; font-weight: bold; margin-bottom: 4px; }
input[type=password] { font-size: 1.3rem; letter-spacing: .3em; width: 100%;
       box-sizing: border-box; padding: 6px 8px; border: 2px solid #4c6272; }
.buttons { display: flex; gap: 12px; margin-top: 16px; }
button { font-size: 1rem; padding: 8px 18px; border: 0; border-radius: 4px; cursor: pointer; }
button.primary { background: #007f3b; color: #fff; }
button.secondary { background: #d8dde0; color: #212b32; }
.message { padding: 10px 12px; margin: 0 0 14px; border-left: 6px solid #d5281b;
           background: #fde8e6; }
.message.ok { border-color: #007f3b; background: #e6f4ea; }
.message.info { border-color: #005eb8; background: #e8f1fa; }
</style>
</head>
<body>
<header>NHS Care Identity — Credential Management</header>
<main id="dialog" data-state="{{ state }}" data-request="{{ request.id }}"
      {% if tries_left is not none %}data-tries-left="{{ tries_left }}"{% endif %}>
<h1>{{ title }}</h1>
<dl>
  <dt>Card holder</dt><dd id="holder">{{ request.card_name or "Unknown card holder" }}</dd>
  <dt>Signing in to</dt><dd id="origin">{{ request.origin }}</dd>
</dl>
{% if message %}
<p class="message {{ message_class }}" role="alert" id="message">{{ message }}</p>
{% endif %}
{% if state == "pin_required" %}
<form method="post" action="/pin/{{ request.id }}" id="pin-form">
  <input type="hidden" name="csrf" value="{{ request.csrf }}">
  <label for="pin">Smartcard PIN</label>
  <input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off"
         minlength="6" maxlength="8" pattern="[0-9]{6,8}" required autofocus>
  <div class="buttons">
    <button type="submit" class="primary" id="confirm">OK</button>
    <button type="submit" class="secondary" id="cancel" form="cancel-form">Cancel</button>
  </div>
</form>
<form method="post" action="/pin/{{ request.id }}/cancel" id="cancel-form">
  <input type="hidden" name="csrf" value="{{ request.csrf }}">
</form>
{% else %}
<div class="buttons"><button type="button" class="secondary" id="close">Close</button></div>
{% endif %}
</main>
<script nonce="{{ nonce }}">
(() => {
  const state = {{ state|tojson }};
  const close = document.getElementById("close");
  if (close) close.addEventListener("click", () => window.close());
  if (state === "signed") { setTimeout(() => window.close(), 1500); return; }
  if (state !== "pin_required") return;
  const url = {{ state_url|tojson }};
  (async () => {
    for (let i = 0; i < 200; i++) {
      try {
        const answer = await fetch(url + "?wait=20", {cache: "no-store"});
        if (!answer.ok) return;
        const now = await answer.json();
        if (now.state !== "pin_required") { location.replace({{ page_url|tojson }}); return; }
      } catch (e) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  })();
})();
</script>
</body>
</html>
"""
_environment = Environment(autoescape=True)
_page = _environment.from_string(_TEMPLATE)


@dataclass(frozen=True)
class DialogView:
    state: str  # pin_required, signed, cancelled, card_removed, locked, failed
    title: str
    message: str
    message_class: str


def view_of(request: SignRequest, notice: str | None = None) -> DialogView:
    if request.state is RequestState.PIN_REQUIRED:
        if notice == "format":
            return DialogView(request.state.value, "Enter your PIN", _FORMAT, "")
        if request.tries_left is not None:
            tries = request.tries_left
            text = f"Incorrect PIN — {tries} {'try' if tries == 1 else 'tries'} left"
            return DialogView(request.state.value, "Enter your PIN", text, "")
        return DialogView(request.state.value, "Enter your PIN", "", "")
    if request.state is RequestState.SIGNED:
        return DialogView("signed", "Signed in", "PIN accepted. You can close this window.", "ok")
    code = request.error.code if request.error else None
    if code is FailureCode.PIN_LOCKED:
        return DialogView("locked", "Smartcard locked", LOCKED_TEXT, "")
    if code is FailureCode.CARD_REMOVED:
        text = "The smartcard was removed. The sign-in was cancelled."
        return DialogView("card_removed", "Smartcard removed", text, "info")
    if code is FailureCode.CANCELLED:
        text = "The sign-in was cancelled."
        if request.error and request.error.message == "timed out":
            text = "The PIN was not entered in time. The sign-in was cancelled."
        return DialogView("cancelled", "Sign-in cancelled", text, "info")
    message = request.error.message if request.error else "The sign-in failed."
    return DialogView("failed", "Sign-in failed", message, "")


_FORMAT = "The PIN is 6 to 8 digits. Nothing was sent to the card."


def render_dialog(request: SignRequest, *, nonce: str, notice: str | None = None) -> str:
    view = view_of(request, notice)
    return _page.render(
        request=request,
        state=view.state,
        title=view.title,
        message=view.message,
        message_class=view.message_class,
        tries_left=request.tries_left if request.state is RequestState.PIN_REQUIRED else None,
        nonce=nonce,
        state_url=f"/pin/{request.id}/state",
        page_url=f"/pin/{request.id}",
    )


_SIMPLE = _environment.from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
</head><body><h1>{{ title }}</h1><p>{{ text }}</p></body></html>"""
)


def render_simple(title: str, text: str) -> str:
    """A page for a dialog URL that cannot be used (unknown request, refused form)."""
    return _SIMPLE.render(title=title, text=text)
