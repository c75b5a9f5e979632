"""The client registry: the relying parties the provider knows, kept in a TOML file.

```toml
[[client]]
client_id = "123456789012.apps.national"
name = "NHSmail portal"
token_endpoint_auth_method = "client_secret_post"   # or "private_key_jwt"
client_secret = "..."                                # client_secret_post only
jwks_uri = "https://rp.example/jwks"                 # private_key_jwt (or inline `jwks`)
redirect_uris = ["https://rp.example/callback"]
post_logout_redirect_uris = ["https://rp.example/signed-out"]
backchannel_logout_uri = "https://rp.example/backchannel-logout"
require_pkce = true
id_token_signed_response_alg = "RS256"               # or "ES256"
```

The file is re-read when it changes, so `careid client add` takes effect on a running
provider. It holds client secrets: it is written with mode 0600.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reference_service.cis2.watched_file import WatchedFile

AUTH_METHODS = ("client_secret_post", "private_key_jwt")
ID_TOKEN_ALGS = ("RS256", "ES256")
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,200}")


class RegistryError(ValueError):
    """The client registry file cannot be used (the message names the client and field)."""


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str = "client_secret_post"  # noqa: S105 - a method name
    client_secret: str | None = field(default=None, repr=False)
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    require_pkce: bool = False
    id_token_signed_response_alg: str = "RS256"  # noqa: S105 - an algorithm name

    def to_toml(self) -> str:
        lines = ["[[client]]"]
        values: dict[str, Any] = {
            "client_id": self.client_id,
            "name": self.name,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "client_secret": self.client_secret,
            "jwks_uri": self.jwks_uri,
            "jwks": json.dumps(self.jwks) if self.jwks is not None else None,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "require_pkce": self.require_pkce,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
        }
        for key, value in values.items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(str(item)) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the registry")


def _https_url(value: object, where: str, *, allow_http_loopback: bool = False) -> str:
    if not isinstance(value, str):
        raise RegistryError(f"{where}: a URL string is required")
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (
        allow_http_loopback and parts.scheme == "http" and loopback
    ):
        raise RegistryError(f"{where}: must be an https URL, not {value!r}")
    if not parts.netloc or parts.fragment:
        raise RegistryError(f"{where}: must be an absolute URL without a fragment")
    return value


def parse_client(table: dict[str, Any], where: str = "client") -> Client:
    known = {
        "client_id",
        "name",
        "redirect_uris",
        "token_endpoint_auth_method",
        "client_secret",
        "jwks_uri",
        "jwks",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "require_pkce",
        "id_token_signed_response_alg",
    }
    unknown = sorted(set(table) - known)
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {', '.join(unknown)}")
    client_id = table.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise RegistryError(f"{where}: client_id is 1-200 letters, digits, '.', '_', ':', '-'")
    where = f"client {client_id}"
    method = table.get("token_endpoint_auth_method", "client_secret_post")
    if method not in AUTH_METHODS:
        raise RegistryError(f"{where}: token_endpoint_auth_method is one of {AUTH_METHODS}")
    secret = table.get("client_secret")
    if method == "client_secret_post" and (not isinstance(secret, str) or len(secret) < 16):
        raise RegistryError(f"{where}: client_secret_post needs a client_secret of 16+ chars")
    jwks_uri = table.get("jwks_uri")
    jwks_text = table.get("jwks")
    jwks: dict[str, Any] | None = None
    if jwks_text is not None:
        try:
            jwks = json.loads(jwks_text) if isinstance(jwks_text, str) else None
        except ValueError:
            jwks = None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise RegistryError(f"{where}: jwks is the JSON text of a JWK set")
    if method == "private_key_jwt" and jwks_uri is None and jwks is None:
        raise RegistryError(f"{where}: private_key_jwt needs jwks_uri (or an inline jwks)")
    if jwks_uri is not None:
        _https_url(jwks_uri, f"{where}: jwks_uri", allow_http_loopback=True)
    redirect_uris = table.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise RegistryError(f"{where}: redirect_uris is a non-empty list")
    for uri in redirect_uris:
        _https_url(uri, f"{where}: redirect_uris", allow_http_loopback=True)
    post_logout = table.get("post_logout_redirect_uris", [])
    if not isinstance(post_logout, list):
        raise RegistryError(f"{where}: post_logout_redirect_uris is a list")
    for uri in post_logout:
        _https_url(uri, f"{where}: post_logout_redirect_uris", allow_http_loopback=True)
    backchannel = table.get("backchannel_logout_uri")
    if backchannel is not None:
        _https_url(backchannel, f"{where}: backchannel_logout_uri", allow_http_loopback=True)
    alg = table.get("id_token_signed_response_alg", "RS256")
    if alg not in ID_TOKEN_ALGS:
        raise RegistryError(f"{where}: id_token_signed_response_alg is one of {ID_TOKEN_ALGS}")
    require_pkce = table.get("require_pkce", False)
    if not isinstance(require_pkce, bool):
        raise RegistryError(f"{where}: require_pkce is true or false")
    name = table.get("name", client_id)
    if not isinstance(name, str):
        raise RegistryError(f"{where}: name is a string")
    return Client(
        client_id=client_id,
        name=name,
        redirect_uris=tuple(redirect_uris),
        token_endpoint_auth_method=method,
        client_secret=secret if method == "client_secret_post" else None,
        jwks_uri=jwks_uri,
        jwks=jwks,
        post_logout_redirect_uris=tuple(post_logout),
        backchannel_logout_uri=backchannel,
        require_pkce=require_pkce,
        id_token_signed_response_alg=alg,
    )


def load_clients(path: Path) -> dict[str, Client]:
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read the client registry: {exc}") from None
    tables = document.get("client", [])
    if not isinstance(tables, list):
        raise RegistryError(f"{path}: clients are [[client]] tables")
    clients: dict[str, Client] = {}
    for index, table in enumerate(tables, start=1):
        client = parse_client(table, f"{path}: client #{index}")
        if client.client_id in clients:
            raise RegistryError(f"{path}: client {client.client_id} is registered twice")
        clients[client.client_id] = client
    return clients


def new_client_id() -> str:
    """A CIS2-looking client id: 12 random digits + `.apps.national`."""
    return f"{secrets.randbelow(10**12):012d}.apps.national"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


HEADER = (
    "# careid cis2: the client registry (relying parties of the reference provider).\n"
    "# Holds client secrets: keep it private. `careid client add` appends to it.\n\n"
)


def write_clients(path: Path, clients: list[Client]) -> None:
    """Replace the registry file atomically, mode 0600."""
    text = HEADER + "\n".join(client.to_toml() for client in clients)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_client(path: Path, client: Client) -> None:
    clients = load_clients(path)
    if client.client_id in clients:
        raise RegistryError(f"client {client.client_id} is already registered")
    write_clients(path, [*clients.values(), client])


class ClientRegistry:
    """The registry file, re-read whenever its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = WatchedFile(self.path, load_clients)

    def get(self, client_id: str) -> Client | None:
        return self._file.current().get(client_id)

    def all(self) -> list[Client]:
        return list(self._file.current().values())
