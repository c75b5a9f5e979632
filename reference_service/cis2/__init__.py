"""The reference sign-in service: a CIS2-style OpenID Connect provider with smartcard sign-in.

The protocol and business rules live in plain modules (`provider`, `authorize`, `tokens`,
`smartcard`, `sessions`, ...) over injected storage (`store.Store`); `app` is the thin
FastAPI face and `server` runs it over HTTPS. Nothing here imports `simulator`: the service
trusts a CA bundle file and reads its user directory and client registry from files, as a
real service would.
"""

ISSUER_PATH = "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"

__all__ = ["ISSUER_PATH"]
