"""The NHSmail directory: accounts, Care Identity links, portal sessions and the audit trail.

Shared by the NHSmail portal and My Identity Portal. `store.Directory` is the storage (SQLite,
WAL, `synchronous=FULL`), `accounts` holds the account rules (password login with lockout, MFA,
the AUP gate), `linking` the link rules (one Care Identity <-> one NHSmail account, made in one
transaction), `relying_party` the OpenID Connect relying-party side both portals use, and
`web` the pieces of their pages. Nothing here imports FastAPI except `web`, nor `simulator`.
"""
