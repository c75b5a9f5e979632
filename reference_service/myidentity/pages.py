"""My Identity Portal's pages (Jinja2, autoescaped)."""

from __future__ import annotations

SERVICE = "Link My NHS Accounts"

START = """{% extends "base.html" %}
{% block title %}My Identity Portal{% endblock %}
{% block main %}
<h1>Link My NHS Accounts</h1>
<p>Link your NHS Care Identity (smartcard) to your NHSmail account, once, so that you can log in
to NHSmail with your smartcard.</p>
<p>Before you start, make sure that:</p>
<ul id="prerequisites">
<li>you have an active nhs.net account;</li>
<li>you have accepted the NHSmail Acceptable Use Policy (AUP);</li>
<li>you have an active NHS Care Identity smartcard;</li>
<li>the Credential Management software (Identity Agent) is on this computer and you use a
compatible browser (Chrome or Microsoft Edge).</li>
</ul>
<p><a class="button" id="start-now" href="/login">Start now &gt;</a></p>
{% endblock %}
"""

HOME = """{% extends "base.html" %}
{% block title %}Home{% endblock %}
{% block nav %}<form method="post" action="/logout" style="display:inline">
{{ csrf_field(csrf) }}<button type="submit" id="logout">Log out</button></form>{% endblock %}
{% block main %}
<h1>Link My NHS Accounts</h1>
<p>Signed in as <strong id="email">{{ account.email }}</strong>.</p>
{% if link %}<div class="ok" role="status"><p id="linked">Your NHSmail account is linked to NHS
Care Identity <strong>{{ link.uuid }}</strong>.</p></div>{% endif %}
<p>Select the account you want to link:</p>
<p><a class="button" id="care-identity" href="/link/care-identity">NHS Care Identity</a></p>
{% endblock %}
"""

CARE_IDENTITY = """{% extends "base.html" %}
{% block title %}Link your NHS Care Identity{% endblock %}
{% block main %}
<h1>Link your NHS Care Identity</h1>
<p>Insert your NHS Smartcard into the reader. You will sign in with it at the NHS Care Identity
service and enter your PIN in the Identity Agent's pop-up box.</p>
<form method="post" action="/link/care-identity">{{ csrf_field(csrf) }}
<p><button type="submit" id="continue">Continue</button></p></form>
{% endblock %}
"""

CONFIRM = """{% extends "base.html" %}
{% block title %}Confirm the link{% endblock %}
{% block main %}
<h1>Check your details</h1>
<p>Review your NHSmail and NHS Care Identity account details, then select Confirm to link them.</p>
<h2>NHSmail account</h2>
<dl id="nhsmail-account">
<dt>Name</dt><dd id="nhsmail-name">{{ account.display_name }}</dd>
<dt>Email address</dt><dd id="nhsmail-email">{{ account.email }}</dd>
<dt>Organisation</dt><dd id="nhsmail-organisation">{{ account.organisation }}</dd>
</dl>
<h2>NHS Care Identity account</h2>
<dl id="care-identity-account">
<dt>Name</dt><dd id="ci-name">{{ identity.name }}</dd>
<dt>UUID</dt><dd id="ci-uuid">{{ identity.uuid }}</dd>
<dt>Organisations</dt><dd id="ci-organisations">{{ identity.organisations or "None" }}</dd>
<dt>Signed in with</dt><dd id="ci-mechanism">{{ identity.mechanism }}</dd>
</dl>
<form method="post" action="/link/confirm">{{ csrf_field(csrf) }}
<p><button type="submit" id="confirm">Confirm</button>
<a class="button secondary" id="cancel" href="/home">Cancel</a></p></form>
{% endblock %}
"""

DONE = """{% extends "base.html" %}
{% block title %}Accounts linked{% endblock %}
{% block main %}
<h1 id="title">Your accounts are linked</h1>
<div class="ok" role="status"><p id="message">You have successfully linked your NHSmail Account
({{ email }}) to your NHS Care Identity Account ({{ uuid }}).</p></div>
<p><a class="button" id="go-home" href="/home">Go to Link My NHS Accounts Home</a></p>
<p><a class="button" id="go-nhsmail" href="{{ nhsmail_url }}">Go to NHSmail Portal</a></p>
{% endblock %}
"""

TEMPLATES = {
    "start.html": START,
    "home.html": HOME,
    "care_identity.html": CARE_IDENTITY,
    "confirm.html": CONFIRM,
    "done.html": DONE,
}
