"""The OIDC provider suite against node-oidc-provider: a certified implementation nobody here
wrote must pass every generic OIDC-* requirement, so the suite's own checks are right.

npm installs `oidc-provider` once into a cache directory (reruns reuse it); the test writes a
small provider script (code flow, PKCE required, client_secret_post and private_key_jwt
clients, back-channel and RP-initiated logout, the development login form), serves it over
HTTPS on a free port of 127.0.0.1 with the test PKI's certificate, and runs the suite against
it with the `dev_interactions` login driver. CIS2-* requirements are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from conformance.catalog import default_catalog
from conformance.oidc.target import free_port
from conformance.runner import run_suite
from simulator.pki import TestPKI

PACKAGE = "oidc-provider@9"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "careid-harness"
INSTALL_DIR = CACHE / "node-oidc-provider-9"

PROVIDER_SCRIPT = r"""
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: { keys: [cfg.signing_key] },
  cookies: { keys: [cfg.cookie_key] },
  pkce: { required: () => true },
  // The relying party (the suite's back-channel receiver) is on loopback, which the
  // provider's SSRF protection refuses: this provider only ever talks to the test.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'family_name', 'given_name'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: 'Alice Smith', family_name: 'Smith', given_name: 'Alice',
                 email: 'alice@example.test', email_verified: true };
      },
    };
  },
});
// The development login pages send no frame protection; a deployment adds it, as it must
// (RFC 9700 4.16, OIDC-SEC-001), with a middleware such as this one (or helmet).
provider.use(async (ctx, next) => {
  await next();
  ctx.set('X-Frame-Options', 'DENY');
});
const server = https.createServer(
  { key: fs.readFileSync(cfg.tls_key), cert: fs.readFileSync(cfg.tls_certificate) },
  provider.callback(),
);
provider.on('backchannel.error', (ctx, err, client) => {
  const cause = err && err.cause ? String(err.cause) : '';
  console.log('backchannel.error', client.clientId, err && err.message, cause);
});
provider.on('backchannel.success', (ctx, client) => {
  console.log('backchannel.success', client.clientId);
});
server.listen(cfg.port, '127.0.0.1', () => console.log('listening'));
"""


def _npm_install() -> Path:
    """node_modules with oidc-provider (installed once); skips only if npm's registry is
    unreachable."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    module = INSTALL_DIR / "node_modules" / "oidc-provider" / "package.json"
    if module.exists():
        return INSTALL_DIR
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    (INSTALL_DIR / "package.json").write_text('{"name": "careid-node-oidc", "private": true}\n')
    done = subprocess.run(  # noqa: S603 - fixed argv
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],  # noqa: S607
        cwd=INSTALL_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        unreachable = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH")
        if any(word in output for word in unreachable):
            pytest.skip(f"npm cannot reach its registry: {output.strip()[-300:]}")
        pytest.fail(f"npm install {PACKAGE} failed:\n{output}")
    return INSTALL_DIR


def _wait(url: str, bundle: Path, process: subprocess.Popen[str], log: Path) -> None:
    context = ssl.create_default_context(cafile=str(bundle))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"node-oidc-provider exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, verify=context).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("node-oidc-provider did not answer within 30 s")


@pytest.fixture(scope="module")
def careid_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test PKI of this module (the provider's and the receiver's certificates)."""
    return tmp_path_factory.mktemp("careid-data")


@pytest.fixture(scope="module")
def node_provider(
    careid_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    install = _npm_install()
    work = tmp_path_factory.mktemp("node-oidc")
    pki = TestPKI.open(careid_data_dir / "pki")
    chain, key = pki.server_certificate("node-oidc", ["127.0.0.1", "localhost"])
    port, rp_port, bcl_port = free_port(), free_port(), free_port()
    issuer = f"https://127.0.0.1:{port}"
    rp = f"https://127.0.0.1:{rp_port}"
    client_key = RSAKey.generate_key(2048, parameters={"kid": "rp-1", "alg": "RS256"}, private=True)
    signing_key = RSAKey.generate_key(2048, parameters={"kid": "op-1", "use": "sig"}, private=True)
    secret = secrets.token_urlsafe(32)
    common = {"response_types": ["code"], "grant_types": ["authorization_code"]}
    clients = [
        {
            **common,
            "client_id": "careid-suite",
            "client_secret": secret,
            "token_endpoint_auth_method": "client_secret_post",
            "redirect_uris": [f"{rp}/cb"],
            "post_logout_redirect_uris": [f"{rp}/bye"],
            "backchannel_logout_uri": f"https://127.0.0.1:{bcl_port}/backchannel",
            "backchannel_logout_session_required": True,
        },
        {
            **common,
            "client_id": "careid-suite-jwt",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks": {"keys": [client_key.as_dict(private=False)]},
            "redirect_uris": [f"{rp}/jwt/cb"],
        },
    ]
    config = {
        "issuer": issuer,
        "port": port,
        "clients": clients,
        "signing_key": signing_key.as_dict(private=True),
        "cookie_key": secrets.token_urlsafe(32),
        "tls_key": str(key),
        "tls_certificate": str(chain),
    }
    (work / "provider.json").write_text(json.dumps(config))
    script = install / "careid-provider.mjs"
    script.write_text(PROVIDER_SCRIPT)
    log = work / "node.log"
    process = subprocess.Popen(  # noqa: S603
        ["node", str(script), str(work / "provider.json")],  # noqa: S607
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(pki.ca_bundle_path)},
    )
    try:
        _wait(f"{issuer}/.well-known/openid-configuration", pki.ca_bundle_path, process, log)
        suite_config = {
            "login_driver": "conformance.oidc.drivers:dev_interactions",
            "user": "alice",
            "password": "any",
            "backchannel_uri": f"https://127.0.0.1:{bcl_port}/backchannel",
            "client": {
                "client_id": "careid-suite",
                "post_logout_redirect_uri": f"{rp}/bye",
                "require_pkce": True,
            },
            "jwt_client": {
                "client_id": "careid-suite-jwt",
                "redirect_uri": f"{rp}/jwt/cb",
                "private_jwk": client_key.as_dict(private=True),
                "require_pkce": True,
            },
        }
        path = work / "suite.toml"
        path.write_text(_toml(suite_config))
        yield {
            "issuer": issuer,
            "config": path,
            "client_id": "careid-suite",
            "secret": secret,
            "redirect_uri": f"{rp}/cb",
            "ca_bundle": pki.ca_bundle_path,
            "log": log,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _toml(document: dict[str, Any]) -> str:
    """A minimal TOML writer for the suite's config (strings, bools, one level of tables,
    inline tables of strings)."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + " }"
        return json.dumps(str(item))

    lines = [f"{k} = {value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for name, table in document.items():
        if isinstance(table, dict):
            lines.append(f"\n[{name}]")
            lines.extend(f"{k} = {value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def test_suite_against_node_oidc_provider(
    node_provider: dict[str, Any], tmp_path: Path, careid_data_dir: Path
) -> None:
    run_dir = tmp_path / "run"
    code = run_suite(
        "oidc",
        run_dir=run_dir,
        extra_args=[
            f"--careid-issuer={node_provider['issuer']}",
            f"--careid-oidc-client-id={node_provider['client_id']}",
            f"--careid-oidc-client-secret={node_provider['secret']}",
            f"--careid-oidc-redirect-uri={node_provider['redirect_uri']}",
            f"--careid-oidc-config={node_provider['config']}",
            f"--careid-ca-bundle={node_provider['ca_bundle']}",
            f"--careid-data-dir={careid_data_dir}",
            "-q",
        ],
    )
    results = json.loads((run_dir / "results.json").read_text())
    assert results["suite"] == "oidc"
    assert results["target"]["issuer"] == node_provider["issuer"]
    assert results["target"]["profile"] == "generic"
    assert results["self_check"]["ok"], results["self_check"]
    by_outcome: dict[str, list[dict[str, Any]]] = {}
    for test in results["tests"]:
        by_outcome.setdefault(test["outcome"], []).append(test)
    failing = [
        (t["nodeid"], t["actual"])
        for t in by_outcome.get("failed", []) + by_outcome.get("error", [])
    ]
    assert not failing, (failing, node_provider["log"].read_text()[-2000:])
    generic = {r.id for r in default_catalog().for_suite("oidc") if r.id.startswith("OIDC-")}
    passed = {rid for t in by_outcome.get("passed", []) for rid in t["requirements"]}
    assert passed == generic, f"generic requirements not passed: {sorted(generic - passed)}"
    for test in by_outcome.get("skipped", []):
        assert all(rid.startswith("CIS2-") for rid in test["requirements"]), test
        assert "CIS2-specific" in test["actual"]
    assert code == 0
