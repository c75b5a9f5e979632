"""The sign-in pages (Jinja2, autoescaped) and the smartcard page's script.

Kept in Python so they ship with the package whatever the packaging's data-file rules are.
Pages carry no inline script: the smartcard page reads its settings from a JSON block and
loads `static/smartcard.js`, so the Content-Security-Policy can forbid inline scripts.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}NHS Care Identity Service 2{% endblock %}</title>
<style>
 body{font-family:Arial,Helvetica,sans-serif;margin:0;background:#f0f4f5;color:#212b32}
 header{background:#005eb8;color:#fff;padding:14px 24px;font-weight:bold;font-size:19px}
 main{max-width:640px;margin:32px auto;background:#fff;padding:24px 32px;border-radius:4px}
 h1{font-size:28px;margin-top:0} .hint{color:#4c6272}
 button,.button{background:#007f3b;color:#fff;border:0;padding:12px 18px;font-size:17px;
   border-radius:4px;cursor:pointer;text-decoration:none;display:inline-block}
 button.secondary{background:#4c6272}
 .error{border-left:6px solid #d5281b;padding:8px 16px;background:#fff4f4}
 .mechanism{display:block;padding:10px;border:1px solid #d8dde0;margin:8px 0;border-radius:4px}
 .role{display:block;padding:8px;border-bottom:1px solid #d8dde0}
 input[type=text],input[type=search]{font-size:17px;padding:8px;width:60%}
 #status{min-height:1.5em} [hidden]{display:none!important}
</style></head>
<body><header>NHS Care Identity Service 2 (reference)</header>
<main>{% block main %}{% endblock %}</main></body></html>
"""

ERROR = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block main %}
<h1>{{ title }}</h1>
<div class="error" role="alert"><p id="message">{{ message }}</p></div>
<p class="hint">Reference: <code id="error-code">{{ code }}</code></p>
{% if retry %}<p><a class="button" href="{{ retry }}">Try again</a></p>{% endif %}
{% endblock %}
"""

CHOOSER = """{% extends "base.html" %}
{% block title %}Choose how to sign in{% endblock %}
{% block main %}
<h1>Select your preferred choice of Authentication Mechanism</h1>
{% if client_name %}<p class="hint">to sign in to {{ client_name }}</p>{% endif %}
<form method="post" action="{{ action }}">
{% for m in mechanisms %}
<label class="mechanism"><input type="radio" name="mechanism" value="{{ m.name }}"
  {% if loop.first %}checked{% endif %}> <strong>{{ m.title }}</strong>
  <span class="hint"> {{ m.description }}</span></label>
{% endfor %}
<p><button type="submit" id="continue">Continue</button></p>
</form>
{% endblock %}
"""

SMARTCARD = """{% extends "base.html" %}
{% block title %}Sign in with your smartcard{% endblock %}
{% block main %}
<h1>Sign in with your smartcard</h1>
<p>Insert your smartcard into the card reader, then select <strong>Sign in</strong>.
You will be asked for your PIN by the Identity Agent on this computer.</p>
<p id="status" role="status" aria-live="polite"></p>
<p><button type="button" id="signin">Sign in</button>
<a id="pin-link" class="button" href="#" hidden target="_blank" rel="opener">Enter your PIN</a></p>
<script type="application/json" id="careid-config">{{ config | tojson }}</script>
<script src="{{ script }}"></script>
{% endblock %}
"""

TOTP = """{% extends "base.html" %}
{% block title %}Sign in with your authenticator app{% endblock %}
{% block main %}
<h1>Sign in with your authenticator app</h1>
{% if error %}<div class="error" role="alert"><p>{{ error }}</p></div>{% endif %}
<form method="post" action="{{ action }}">
<p><label>Care Identity number (UUID)<br><input type="text" name="uuid" inputmode="numeric"
  autocomplete="username" maxlength="12"></label></p>
<p><label>6-digit code from your authenticator app<br><input type="text" name="code"
  inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label></p>
<p><button type="submit" id="continue">Continue</button></p>
</form>
{% endblock %}
"""

ROLES = """{% extends "base.html" %}
{% block title %}Select your role{% endblock %}
{% block main %}
<h1>Select your role</h1>
<p class="hint">{{ user.display_name }}: you have {{ total }} roles.</p>
{% if search %}
<form method="get" action="{{ action }}" role="search">
<label>Search roles <input type="search" name="q" value="{{ query }}" id="role-search"></label>
<button type="submit" class="secondary">Search</button></form>
{% endif %}
<form method="post" action="{{ action }}">
{% for r in roles %}
<label class="role"><input type="radio" name="person_roleid" value="{{ r.person_roleid }}"
  {% if loop.first %}checked{% endif %}> <strong>{{ r.role_name }}</strong>
  <span class="hint">{{ r.org_name }} ({{ r.org_code }}) &middot; {{ r.role_code }}</span></label>
{% else %}<p>No role matches your search.</p>
{% endfor %}
<p><button type="submit" id="continue">Continue</button></p>
</form>
{% endblock %}
"""

SIGNED_OUT = """{% extends "base.html" %}
{% block title %}You have signed out{% endblock %}
{% block main %}<h1>You have signed out</h1>
<p>You have signed out of NHS Care Identity Service 2.</p>{% endblock %}
"""

CONFIRM_LOGOUT = """{% extends "base.html" %}
{% block title %}Sign out{% endblock %}
{% block main %}<h1>Do you want to sign out?</h1>
<p>An application asked to sign you out of NHS Care Identity Service 2. If you did not ask to
sign out, choose <strong>Stay signed in</strong>.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="{{ token_field }}" value="{{ token }}">
{% for name, value in fields.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}
<p><button type="submit" name="confirm" value="yes" id="signout">Sign out</button>
<button type="submit" name="confirm" value="no" class="secondary" id="stay">Stay signed in</button>
</p></form>{% endblock %}
"""

STILL_SIGNED_IN = """{% extends "base.html" %}
{% block title %}You are still signed in{% endblock %}
{% block main %}<h1>You are still signed in</h1>
<p>You have not been signed out of NHS Care Identity Service 2.</p>{% endblock %}
"""

HOME = """{% extends "base.html" %}
{% block main %}<h1>NHS Care Identity Service 2 (reference)</h1>
<p>An OpenID Connect provider for testing. Discovery:
<a href="{{ discovery }}">{{ discovery }}</a></p>{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "error.html": ERROR,
    "chooser.html": CHOOSER,
    "smartcard.html": SMARTCARD,
    "totp.html": TOTP,
    "roles.html": ROLES,
    "signed_out.html": SIGNED_OUT,
    "confirm_logout.html": CONFIRM_LOGOUT,
    "still_signed_in.html": STILL_SIGNED_IN,
    "home.html": HOME,
}

environment = Environment(
    loader=DictLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(name: str, context: dict[str, object]) -> str:
    return environment.get_template(name).render(**context)


# The smartcard page's script (docs/signin-protocol.md, "The sign-in service's side").
SMARTCARD_JS = r"""
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("careid-config").textContent);
  const statusLine = document.getElementById("status");
  const button = document.getElementById("signin");
  const pinLink = document.getElementById("pin-link");
  const say = (text) => { statusLine.textContent = text; };
  const fail = (code) => {
    window.location.assign(cfg.failed_url + "?code=" + encodeURIComponent(code));
  };
  const json = (body) => ({
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const insertCard = () => {
    say("Insert your smartcard into the card reader, then select Sign in.");
    button.disabled = false;
  };

  async function agentStatus() {
    try {
      const answer = await fetch(cfg.agent_url + "/v1/status");
      if (!answer.ok) { return null; }
      return await answer.json();
    } catch (error) { return null; }
  }

  async function signIn() {
    button.disabled = true;
    say("Looking for your smartcard\u2026");
    const status = await agentStatus();
    if (status === null) {
      say("The Identity Agent is not running on this computer. Start it, then select Sign in.");
      button.disabled = false; return;
    }
    const reader = (status.readers || []).find((r) => r.card);
    if (!reader) { insertCard(); return; }
    const issued = await fetch(cfg.challenge_url, json({}));
    if (!issued.ok) {
      const e = await issued.json().catch(() => ({}));
      fail(e.error || "challenge_failed");
      return;
    }
    const challenge = await issued.json();
    const signBody = { challenge: challenge.challenge, reader: reader.name };
    if (status.policy === "legacy") { signBody.session_end_url = challenge.session_end_url; }
    let answer = await fetch(cfg.agent_url + "/v1/sign", json(signBody));
    if (answer.status === 409) { insertCard(); return; }
    if (answer.status === 423) { fail("pin_locked"); return; }
    if (!answer.ok) { fail("agent_error"); return; }
    let request = await answer.json();
    if (request.state === "pin_required") {
      say("Enter your PIN in the Identity Agent's window.");
      const popup = window.open(request.dialog_url, "careid-pin", "popup,width=460,height=420");
      if (!popup) { pinLink.href = request.dialog_url; pinLink.hidden = false; }
    }
    while (request.state === "pin_required") {
      const id = encodeURIComponent(request.request_id);
      const poll = await fetch(cfg.agent_url + "/v1/requests/" + id + "?wait=20");
      if (!poll.ok) { fail("agent_error"); return; }
      request = await poll.json();
    }
    pinLink.hidden = true;
    if (request.state !== "signed" || !request.result) {
      fail((request.error && request.error.code) || "agent_error"); return;
    }
    say("Checking your smartcard\u2026");
    const done = await fetch(cfg.complete_url, json({
      challenge: request.result.challenge,
      signature: request.result.signature,
      certificate: request.result.certificate,
    }));
    const outcome = await done.json().catch(() => ({}));
    if (done.ok && outcome.redirect) { window.location.assign(outcome.redirect); return; }
    fail(outcome.error || "signin_failed");
  }

  button.addEventListener("click", () => { signIn().catch(() => fail("agent_error")); });
  if (cfg.autostart) { signIn().catch(() => fail("agent_error")); }
})();
"""

# Messages of the failure page, by code: fixed text, nothing from the request is reflected.
FAILURES = {
    "challenge_invalid": "The sign-in challenge was malformed.",
    "challenge_unknown": "The sign-in challenge is not one this service issued.",
    "challenge_replayed": "The sign-in challenge had been used already.",
    "challenge_expired": "The sign-in took too long and the challenge expired.",
    "challenge_wrong_transaction": "The challenge belonged to another sign-in.",
    "challenge_wrong_origin": "The challenge was issued for another site.",
    "malformed_response": "The smartcard's answer could not be read.",
    "certificate_malformed": "The smartcard's certificate could not be read.",
    "certificate_untrusted": "Your smartcard's certificate was not issued by a trusted authority.",
    "certificate_expired": "Your smartcard's certificate has expired. Contact your "
    "Registration Authority for a renewal.",
    "certificate_not_yet_valid": "Your smartcard's certificate is not valid yet.",
    "certificate_revoked": "Your smartcard's certificate has been revoked. Contact your "
    "Registration Authority.",
    "certificate_no_uuid": "Your smartcard's certificate does not name a Care Identity.",
    "certificate_unsupported": "Your smartcard's key type is not supported.",
    "signature_invalid": "Your smartcard's signature did not match the sign-in challenge.",
    "trust_unavailable": "The service cannot check smartcards at the moment.",
    "revocation_unavailable": "The service cannot check smartcards for revocation at the moment.",
    "unknown_user": "Your Care Identity is not known to this service.",
    "user_not_active": "Your Care Identity is not active. Contact your Registration Authority.",
    "pin_locked": "Your smartcard is locked after too many wrong PINs. Contact your "
    "Registration Authority to unlock it.",
    "cancelled": "You cancelled the PIN entry.",
    "card_removed": "Your smartcard was removed during sign-in.",
    "no_card": "No smartcard was found in the card reader.",
    "card_error": "Your smartcard could not complete the signature.",
    "agent_error": "The Identity Agent on this computer did not answer as expected.",
    "transaction_unknown": "This sign-in has expired or was started in another browser.",
    "mechanism_not_offered": "That authentication mechanism does not meet the application's "
    "assurance requirement.",
    "too_many_attempts": "Too many attempts: go back to the application and sign in again.",
}
