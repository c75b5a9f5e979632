"""The NHSmail portal (reference): password + MFA login with lockout, the Acceptable Use
Policy gate, "Log in with my Care Identity" as an OpenID Connect relying party of the sign-in
service, back-channel logout, and the organisation policy "close on card removal".

Rules live in `reference_service.directory` (shared with My Identity Portal); `app` is the
thin FastAPI face, `pages` its templates and `server` runs it over HTTPS.
"""
