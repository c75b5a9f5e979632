"""The provider the OIDC suite runs against, and the clients it may use there.

* **The reference provider** (default): `reference_service.cis2` started by the suite in this
  process over HTTPS on a free port of 127.0.0.1, with the test PKI's certificate, the
  personas as users, and four relying parties of its own (client_secret_post, PKCE required,
  ES256 ID tokens, private_key_jwt) whose back-channel logout URIs point at the suite's
  receiver. Users sign in with a virtual smartcard (`drivers.smartcard`).
* **Another provider** (`--careid-issuer URL`): its clients are described by the command line
  (`--careid-oidc-client-id/-secret/-redirect-uri`) and/or a TOML file
  (`--careid-oidc-config`):

```toml
login_driver = "conformance.oidc.drivers:dev_interactions"   # module:callable
user = "alice"                    # the login name the driver uses
password = "any"
profile = "generic"               # or "cis2"; default: by the issuer path
backchannel_uri = "http://127.0.0.1:8765/backchannel"   # registered for [client]; the suite listens

[totp]                            # an authenticator-app (TOTP) user (CIS2-TOTP-001; optional)
user = "555000000104"             # what the driver types as the user
secret = "BASE32SECRET"           # that user's TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s)
lockout_threshold = 5             # wrong codes after which the provider locks it (default 100)

[client]                          # client_secret_post
client_id = "..."
client_secret = "..."
redirect_uri = "https://127.0.0.1:8443/cb"
post_logout_redirect_uri = "https://127.0.0.1:8443/bye"
require_pkce = false

[jwt_client]                      # private_key_jwt (optional)
client_id = "..."
redirect_uri = "..."
private_jwk = { kty = "RSA", kid = "k1", n = "...", e = "AQAB", d = "...", ... }
```
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from conformance.oidc.drivers import (
    DEFAULT_USER,
    DriverContext,
    DriverFactory,
    LoginDriver,
    load_driver,
    smartcard,
)
from conformance.oidc.receiver import LogoutReceiver

CIS2_ISSUER_PATH = "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
Profile = Literal["cis2", "generic"]
# CIS2's wrong-code limit is the provider's setting; a target that does not state its own is
# held to the clause itself: SP 800-63B 5.2.2 allows at most 100 consecutive failures.
DEFAULT_TOTP_LOCKOUT = 100


class SetupError(ValueError):
    """The options do not describe a usable provider setup (a usage error)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered at the provider under test."""

    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_post"
    private_jwk: dict[str, Any] | None = field(default=None, repr=False)
    require_pkce: bool = False
    post_logout_redirect_uri: str | None = None
    backchannel_path: str | None = None  # at the suite's receiver
    id_token_alg: str | None = None  # registered id_token_signed_response_alg


@dataclass
class ProviderUnderTest:
    issuer: str
    verify: ssl.SSLContext | bool
    clients: dict[str, RegisteredClient]  # "main", optionally "pkce", "jwt", "es256"
    driver: LoginDriver
    profile: Profile
    reference: bool
    receiver: LogoutReceiver | None = None
    user: str = DEFAULT_USER
    expected_sub: str | None = None  # the signed-in user's sub, when known
    totp_user: str | None = None  # an authenticator-app user and its secret, when given
    totp_secret: str | None = field(default=None, repr=False)
    totp_lockout_threshold: int = DEFAULT_TOTP_LOCKOUT
    _stops: list[Any] = field(default_factory=list)

    @property
    def main(self) -> RegisteredClient:
        return self.clients["main"]

    def http(self) -> httpx.Client:
        """A fresh browser-like client: its own cookies, no automatic redirects."""
        return httpx.Client(verify=self.verify, follow_redirects=False, timeout=30.0)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()


def profile_for(issuer: str, choice: str | None) -> Profile:
    if choice in ("cis2", "generic"):
        return choice  # type: ignore[return-value]
    return "cis2" if issuer.rstrip("/").endswith(CIS2_ISSUER_PATH) else "generic"


def _verify(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    if ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(ca_bundle))


def _client(table: Any, where: str, config_dir: Path) -> RegisteredClient:
    if not isinstance(table, dict):
        raise SetupError(f"{where}: a table is required")
    known = {f.name for f in dataclasses.fields(RegisteredClient)} | {"private_jwk_file"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SetupError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values = dict(table)
    jwk_file = values.pop("private_jwk_file", None)
    if jwk_file is not None:
        import json  # noqa: PLC0415

        values["private_jwk"] = json.loads((config_dir / str(jwk_file)).read_text())
    if values.get("private_jwk") is not None:
        values.setdefault("auth_method", "private_key_jwt")
    try:
        client = RegisteredClient(**values)
    except TypeError as exc:
        raise SetupError(f"{where}: {exc}") from None
    if client.auth_method == "private_key_jwt" and client.private_jwk is None:
        raise SetupError(f"{where}: private_key_jwt needs private_jwk (or private_jwk_file)")
    return client


def foreign_provider(
    issuer: str,
    *,
    config_file: Path | None,
    client_id: str | None,
    client_secret: str | None,
    redirect_uri: str | None,
    driver_spec: str | None,
    profile: str | None,
    ca_bundle: Path | None,
    data_dir: Path | None,
    workdir: Path,
) -> ProviderUnderTest:
    """The setup of a provider named by --careid-issuer (SetupError when it cannot be used)."""
    document: dict[str, Any] = {}
    config_dir = Path.cwd()
    if config_file is not None:
        try:
            document = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SetupError(f"{config_file}: {exc}") from None
        config_dir = Path(config_file).resolve().parent
    main_table = dict(document.get("client") or {})
    for key, value in (
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("redirect_uri", redirect_uri),
    ):
        if value:
            main_table[key] = value
    if not main_table.get("client_id") or not main_table.get("redirect_uri"):
        raise SetupError(
            "--careid-issuer needs a registered client: --careid-oidc-client-id, "
            "--careid-oidc-client-secret and --careid-oidc-redirect-uri (or [client] in "
            "--careid-oidc-config)"
        )
    receiver = None
    backchannel = document.get("backchannel_uri")
    if backchannel:
        from urllib.parse import urlsplit  # noqa: PLC0415

        main_table["backchannel_path"] = urlsplit(str(backchannel)).path or "/"
        certificate = None
        if str(backchannel).startswith("https:"):
            certificate = _suite_certificate(data_dir)
        receiver = LogoutReceiver(str(backchannel), certificate)
    clients = {"main": _client(main_table, "[client]", config_dir)}
    for role in ("pkce", "jwt", "es256"):
        table = document.get(f"{role}_client")
        if table is not None:
            clients[role] = _client(table, f"[{role}_client]", config_dir)
    spec = driver_spec or document.get("login_driver")
    if not spec:
        raise SetupError(
            "--careid-issuer needs a login driver (--careid-oidc-login-driver module:callable, "
            "or login_driver in --careid-oidc-config) that signs the user in"
        )
    user = str(document.get("user") or DEFAULT_USER)
    context = DriverContext(
        workdir=workdir,
        data_dir=data_dir,
        user=user,
        password=str(document.get("password") or ""),
        options=dict(document.get("driver") or {}),
    )
    try:
        factory: DriverFactory = load_driver(str(spec))
    except (ImportError, ValueError) as exc:
        raise SetupError(f"login driver {spec}: {exc}") from None
    totp = _totp_table(document.get("totp"))
    target = ProviderUnderTest(
        issuer=issuer,
        verify=_verify(ca_bundle),
        clients=clients,
        driver=factory(context),
        profile=profile_for(issuer, profile if profile != "auto" else document.get("profile")),
        reference=False,
        receiver=receiver,
        user=user,
        expected_sub=document.get("expected_sub"),
        totp_user=totp.get("user"),
        totp_secret=totp.get("secret"),
        totp_lockout_threshold=totp.get("lockout_threshold", DEFAULT_TOTP_LOCKOUT),
    )
    if receiver is not None:
        receiver.start()
        target._stops.append(receiver.stop)
    return target


def _totp_table(table: Any) -> dict[str, Any]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise SetupError("[totp]: a table is required")
    unknown = sorted(set(table) - {"user", "secret", "lockout_threshold"})
    if unknown:
        raise SetupError(f"[totp]: unknown field(s) {', '.join(unknown)}")
    threshold = table.get("lockout_threshold", DEFAULT_TOTP_LOCKOUT)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise SetupError("[totp]: lockout_threshold is a whole number of at least 1")
    return {k: (str(v) if k != "lockout_threshold" else v) for k, v in table.items()}


def _suite_certificate(data_dir: Path | None) -> tuple[Path, Path]:
    from simulator.datadir import default_data_dir  # noqa: PLC0415
    from simulator.pki import TestPKI  # noqa: PLC0415

    pki = TestPKI.open((data_dir or default_data_dir()) / "pki")
    return pki.server_certificate("careid-oidc-suite", ["127.0.0.1", "localhost"])


def reference_provider(
    *, data_dir: Path | None, workdir: Path, user: str = DEFAULT_USER
) -> ProviderUnderTest:
    """Start the reference provider in this process on a free port (stop() ends it)."""
    from conformance.oidc.reference import relying_parties  # noqa: PLC0415
    from conformance.oidc.stack import export_users  # noqa: PLC0415
    from reference_service.cis2.clients import write_clients  # noqa: PLC0415
    from reference_service.cis2.config import Settings  # noqa: PLC0415
    from reference_service.cis2.server import BackgroundServer  # noqa: PLC0415
    from simulator.datadir import default_data_dir  # noqa: PLC0415
    from simulator.personas import get_persona, load_personas  # noqa: PLC0415
    from simulator.pki import TestPKI  # noqa: PLC0415

    data_dir = data_dir or default_data_dir()
    pki = TestPKI.open(data_dir / "pki")
    certificate = pki.server_certificate("careid-oidc-suite", ["127.0.0.1", "localhost"])
    receiver = LogoutReceiver(f"https://127.0.0.1:{free_port()}", certificate)
    rp = receiver.base_url
    specs = relying_parties()
    registered: dict[str, RegisteredClient] = {}
    service_clients = []
    for role, spec in specs.items():
        client = dataclasses.replace(
            spec.client,
            redirect_uris=(f"{rp}/{role}/callback",),
            post_logout_redirect_uris=(f"{rp}/{role}/signed-out",),
            backchannel_logout_uri=f"{rp}/{role}/backchannel",
        )
        service_clients.append(client)
        private = spec.private_key.as_dict(private=True) if spec.private_key else None
        registered["main" if role == "secret" else role] = RegisteredClient(
            client_id=client.client_id,
            redirect_uri=client.redirect_uris[0],
            client_secret=client.client_secret,
            auth_method=client.token_endpoint_auth_method,
            private_jwk=private,
            require_pkce=client.require_pkce,
            post_logout_redirect_uri=client.post_logout_redirect_uris[0],
            backchannel_path=f"/{role}/backchannel",
            id_token_alg=client.id_token_signed_response_alg,
        )
    service_dir = workdir / "cis2"
    users = export_users(load_personas().values(), service_dir / "users.json")
    registry = service_dir / "clients.toml"
    write_clients(registry, service_clients)
    port = free_port()
    settings = Settings(
        base_url=f"https://127.0.0.1:{port}",
        data_dir=service_dir,
        ca_bundle=pki.ca_bundle_path,
        crl=pki.crl_path,
        users=users,
        clients=registry,
        tls_certificate=certificate[0],
        tls_key=certificate[1],
    )
    context = DriverContext(workdir=workdir, data_dir=data_dir, user=user)
    totp_persona = next(
        (p for p in load_personas().values() if p.nhsmail and p.nhsmail.mfa_secret), None
    )
    target = ProviderUnderTest(
        issuer=settings.issuer,
        verify=_verify(pki.ca_bundle_path),
        clients=registered,
        driver=smartcard(context),
        profile="cis2",
        reference=True,
        receiver=receiver,
        user=user,
        expected_sub=get_persona(user).care_identity.uuid,
        # The personas' authenticator app: the one whose NHSmail account has an MFA secret.
        totp_user=totp_persona.care_identity.uuid if totp_persona else None,
        totp_secret=totp_persona.nhsmail.mfa_secret
        if totp_persona and totp_persona.nhsmail
        else None,
        totp_lockout_threshold=settings.totp_max_failures,
    )
    receiver.start()
    target._stops.append(receiver.stop)
    try:
        server = BackgroundServer(settings).start()
    except BaseException:
        target.stop()
        raise
    target._stops.append(server.stop)
    return target
