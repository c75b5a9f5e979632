"""The NHSmail portal's pages (Jinja2, autoescaped) and the signed-in page's script."""

from __future__ import annotations

SERVICE = "NHSmail"

HOME = """{% extends "base.html" %}
{% block title %}Home{% endblock %}
{% block nav %}<a href="/login" id="login-link" class="button secondary">Login</a>{% endblock %}
{% block main %}
<h1>NHSmail Portal</h1>
<p>The secure email and collaboration service for health and social care.</p>
<p class="hint">Log in with your NHSmail address and password, or with your NHS Care Identity
(smartcard) once it is registered with NHSmail in My Identity Portal.</p>
{% endblock %}
"""

AUP = """{% extends "base.html" %}
{% block title %}Acceptable Use Policy{% endblock %}
{% block main %}
<h1>Acceptable Use Policy</h1>
<p>Before you use NHSmail you must accept the NHSmail Acceptable Use Policy (AUP): you will use
the service for work, keep your password and smartcard to yourself and report any misuse.</p>
<form method="post" action="/aup">{{ csrf_field(csrf) }}
<button type="submit" id="accept">Accept</button></form>
{% endblock %}
"""

PORTAL = """{% extends "base.html" %}
{% block title %}Portal{% endblock %}
{% block nav %}<form method="post" action="/logout" style="display:inline">
{{ csrf_field(csrf) }}<button type="submit" id="logout">Log out</button></form>{% endblock %}
{% block main %}
<h1 id="welcome">Welcome, {{ account.display_name }}</h1>
<dl>
<dt>Email address</dt><dd id="email">{{ account.email }}</dd>
<dt>Organisation</dt><dd id="organisation">{{ account.organisation }}</dd>
<dt>Signed in with</dt><dd id="method">{{ method }}</dd>
{% if uuid %}<dt>Care Identity (UUID)</dt><dd id="uuid">{{ uuid }}</dd>{% endif %}
<dt>Multifactor authentication</dt><dd id="mfa">{{ "On" if account.mfa_enabled else "Off" }}</dd>
<dt>NHS Care Identity</dt><dd id="link">{{ link or "Not linked" }}</dd>
</dl>
{% if close_on_removal %}<p class="hint" id="policy">Your organisation closes your session when
your smartcard is removed from the reader.</p>
<script type="application/json" id="portal-config">{{ config | tojson }}</script>
{% endif %}
<p><a class="button secondary" id="mfa-setup" href="/account/mfa">Set up MFA</a>
<a class="button secondary" id="password-change" href="/account/password">Change password</a></p>
{% endblock %}
{% block scripts %}{% if close_on_removal %}<script src="/static/portal.js"></script>{% endif %}
{% endblock %}
"""

MFA_SETUP = """{% extends "base.html" %}
{% block title %}Set up multifactor authentication{% endblock %}
{% block main %}
<h1>Set up multifactor authentication</h1>
{% if error %}<div class="error" role="alert"><p id="mfa-error">{{ error }}</p></div>{% endif %}
<p>Add this key to your authenticator app, then enter the 6-digit code it shows.</p>
<p><code id="mfa-secret">{{ secret }}</code></p>
<p class="hint" id="mfa-uri">{{ uri }}</p>
<form method="post" action="/account/mfa">{{ csrf_field(csrf) }}
<p><label>Code<br><input type="text" name="code" id="code" inputmode="numeric" maxlength="6">
</label></p>
<p><button type="submit" id="enrol">Turn on MFA</button></p>
</form>
{% endblock %}
"""

CHANGE_FORM = """{% extends "base.html" %}
{% block title %}Change your password{% endblock %}
{% block main %}
<h1>Change your password</h1>
{% if problems %}<div class="error" role="alert"><ul id="password-problems">
{% for p in problems %}<li>{{ p }}</li>{% endfor %}</ul></div>{% endif %}
{% if done %}<div class="ok" role="status"><p id="password-changed">Your password has been
changed.</p></div>{% endif %}
<p class="hint">At least 8 characters, from 3 of: upper case, lower case, digits, symbols; not
containing your user name; not one of your last 4 passwords.</p>
<form method="post" action="/account/password">{{ csrf_field(csrf) }}
<p><label>Current password<br>
<input type="password" name="old" id="old" maxlength="256"></label></p>
<p><label>New password<br><input type="password" name="new" id="new" maxlength="256"></label></p>
<p><button type="submit" id="change">Change password</button></p>
</form>
{% endblock %}
"""

TEMPLATES = {
    "home.html": HOME,
    "aup.html": AUP,
    "portal.html": PORTAL,
    "mfa_setup.html": MFA_SETUP,
    "password.html": CHANGE_FORM,
}

# The organisation policy "close on card removal": the signed-in page listens to the Identity
# Agent's card events (the agent must list this portal's origin in its allowed origins) and,
# when the card of this session leaves the reader, asks the portal to close the session (with
# the session's anti-CSRF token, like every state-changing post).
PORTAL_JS = """(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("portal-config").textContent);
  const close = () => fetch("/session/card-removed", {
    method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": config.csrf}})
    .then(() => { window.location.assign("/signed-out?reason=card_removed"); });
  const events = new EventSource(config.agent_url + "/v1/events");
  events.addEventListener("card-removed", (event) => {
    let data = {};
    try { data = JSON.parse(event.data); } catch (e) { data = {}; }
    if (!data.uuid || data.uuid === config.uuid) { events.close(); close(); }
  });
})();
"""
