"""The provider's settings, read from a TOML file (`careid service up` writes one).

```toml
base_url = "https://127.0.0.1:9443"        # scheme://host:port the browser sees
data_dir = "/path/.careid/cis2"            # database and audit log
ca_bundle = "/path/.careid/pki/ca-bundle.pem"
crl = "/path/.careid/pki/crl.pem"
users = "/path/.careid/cis2/users.json"
clients = "/path/.careid/cis2/clients.toml"
agent_url = "http://127.0.0.1:47201"
tls_certificate = "/path/.careid/pki/servers/cis2.pem"
tls_key = "/path/.careid/pki/servers/cis2.key"
totp_max_failures = 5                       # wrong authenticator-app codes per user ...
totp_window = 900.0                         # ... within this many seconds lock it
totp_lockout = 900.0                        # for this long
totp_max_failures_per_transaction = 3
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reference_service.cis2 import ISSUER_PATH


class SettingsError(ValueError):
    """The settings file cannot be used."""


@dataclass(frozen=True)
class Settings:
    base_url: str
    data_dir: Path
    ca_bundle: Path
    users: Path
    clients: Path
    crl: Path | None = None
    agent_url: str = "http://127.0.0.1:47201"
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    outbound_ca_bundle: Path | None = None
    """CAs trusted for the provider's own HTTPS calls (client JWKS, back-channel logout);
    default: `ca_bundle`."""
    code_lifetime: float = 60.0
    access_token_lifetime: float = 3600.0
    id_token_lifetime: float = 3600.0
    transaction_lifetime: float = 600.0
    challenge_lifetime: float = 120.0
    session_lifetime: float = 12 * 3600.0
    # Authenticator-app codes: after `totp_max_failures` wrong codes for one Care Identity
    # number within `totp_window` seconds its second factor is locked for `totp_lockout`
    # seconds (the right code too); one sign-in transaction gets fewer tries than that.
    totp_max_failures: int = 5
    totp_window: float = 900.0
    totp_lockout: float = 900.0
    totp_max_failures_per_transaction: int = 3
    purge_interval: float = 300.0

    @property
    def issuer(self) -> str:
        return self.base_url.rstrip("/") + ISSUER_PATH

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def database(self) -> Path:
        return self.data_dir / "cis2.sqlite3"

    @property
    def audit_log(self) -> Path:
        return self.data_dir / "audit.log"

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/{name}"

    @property
    def trust_for_outbound(self) -> Path:
        return self.outbound_ca_bundle or self.ca_bundle


_PATHS = {
    "data_dir",
    "ca_bundle",
    "users",
    "clients",
    "crl",
    "tls_certificate",
    "tls_key",
    "outbound_ca_bundle",
}


def load_settings(path: Path) -> Settings:
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the settings: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in document.items():
        values[key] = Path(value) if key in _PATHS else value
    try:
        settings = Settings(**values)
    except TypeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    if urlsplit(settings.base_url).scheme not in ("https", "http"):
        raise SettingsError(f"{path}: base_url is an https URL")
    for name in ("totp_max_failures", "totp_max_failures_per_transaction"):
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SettingsError(f"{path}: {name} is a whole number of at least 1")
    for name in ("totp_window", "totp_lockout", "purge_interval"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise SettingsError(f"{path}: {name} is a positive number of seconds")
    return settings
