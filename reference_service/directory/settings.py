"""A portal's settings, read from a TOML file (`careid service up` writes one per portal).

```toml
portal = "nhsmail"                           # or "myidentity"
base_url = "https://127.0.0.1:9444"
database = "/path/.careid/directory/directory.sqlite3"
accounts = "/path/.careid/directory/accounts.json"   # seeds missing accounts at start
issuer = "https://127.0.0.1:9443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
client_id = "123456789012.apps.national"
client_secret = "..."
ca_bundle = "/path/.careid/pki/ca-bundle.pem"
tls_certificate = "/path/.careid/pki/servers/nhsmail.pem"
tls_key = "/path/.careid/pki/servers/nhsmail.key"
nhsmail_url = "https://127.0.0.1:9444"
myidentity_url = "https://127.0.0.1:9445"
agent_url = "http://127.0.0.1:47201"
close_on_card_removal = ["RX2"]              # organisations with the close-on-removal policy
lockout_threshold = 5                        # failed passwords (or MFA codes) per account ...
lockout_window = 900.0                       # ... within this many seconds ...
lockout_seconds = 900.0                      # ... lock them for this long
```
The file holds the client secret: it is written with mode 0600.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PORTALS = ("nhsmail", "myidentity")
_PATHS = {"database", "accounts", "ca_bundle", "tls_certificate", "tls_key"}


class PortalSettingsError(ValueError):
    """The settings file cannot be used."""


@dataclass(frozen=True)
class PortalSettings:
    portal: str
    base_url: str
    database: Path
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_bundle: Path
    accounts: Path | None = None
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    nhsmail_url: str = "https://127.0.0.1:9444"
    myidentity_url: str = "https://127.0.0.1:9445"
    agent_url: str = "http://127.0.0.1:47201"
    close_on_card_removal: tuple[str, ...] = ()
    session_lifetime: float = 8 * 3600.0
    # A session before sign-in (a Care Identity start, a login waiting for its MFA code)
    # lives as long as the sign-in transaction, not a whole session.
    pending_lifetime: float = 600.0
    purge_interval: float = 60.0  # expired sessions are purged at most this often
    # Failed passwords (and, separately, MFA codes) per account: after `lockout_threshold`
    # failures within `lockout_window` seconds, refused for `lockout_seconds`.
    lockout_threshold: int = 5
    lockout_window: float = 900.0
    lockout_seconds: float = 900.0
    acr_values: str = "AAL2_OR_AAL3_ANY"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/oidc/callback"

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")


def load_portal_settings(path: Path) -> PortalSettings:
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PortalSettingsError(f"{path}: cannot read the settings: {exc}") from None
    known = {f.name for f in fields(PortalSettings)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise PortalSettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key in _PATHS:
            values[key] = Path(value)
        elif key == "close_on_card_removal":
            values[key] = tuple(str(item) for item in value)
        else:
            values[key] = value
    try:
        settings = PortalSettings(**values)
    except TypeError as exc:
        raise PortalSettingsError(f"{path}: {exc}") from None
    if settings.portal not in PORTALS:
        raise PortalSettingsError(f"{path}: portal is one of {PORTALS}")
    return settings
