"""`careid service up` and `careid client add` for real: HTTPS with the test PKI's certificate,
a headless smartcard sign-in, and back-channel logout delivered to a relying party over HTTPS."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from conformance.oidc.cards import CardSigner
from conformance.oidc.flow import sign_in
from conformance.oidc.receiver import LogoutReceiver
from reference_service.cis2 import ISSUER_PATH
from simulator.pki import TestPKI

CAREID = [str(Path(sys.executable).with_name("careid"))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    data_dir = tmp_path_factory.mktemp("careid-service")
    port = free_port()
    env = {**os.environ, "CAREID_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [*CAREID, "service", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    issuer = f"https://127.0.0.1:{port}{ISSUER_PATH}"
    try:
        bundle = data_dir / "pki" / "ca-bundle.pem"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"careid service up exited: {output}")
            try:
                if bundle.exists():
                    httpx.get(
                        f"{issuer}/.well-known/openid-configuration",
                        verify=ssl.create_default_context(cafile=str(bundle)),
                    )
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("careid service up did not answer within 60 s")
            time.sleep(0.2)
        yield data_dir, issuer
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_service_up_serves_https_with_the_portals_registered(service: tuple[Path, str]) -> None:
    data_dir, issuer = service
    context = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca-bundle.pem"))
    document = httpx.get(f"{issuer}/.well-known/openid-configuration", verify=context).json()
    assert document["issuer"] == issuer
    listing = subprocess.run(  # noqa: S603
        [*CAREID, "client", "list", f"--data-dir={data_dir}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "NHSmail portal" in listing and "My Identity Portal" in listing


def test_client_add_then_sign_in_and_backchannel_logout(service: tuple[Path, str]) -> None:
    data_dir, issuer = service
    pki = TestPKI.open(data_dir / "pki")
    context = ssl.create_default_context(cafile=str(pki.ca_bundle_path))
    rp_base = f"https://127.0.0.1:{free_port()}"
    rp = LogoutReceiver(rp_base, pki.server_certificate("test-rp")).start()
    try:
        redirect_uri = f"{rp_base}/callback"
        added = subprocess.run(  # noqa: S603
            [
                *CAREID,
                "client",
                "add",
                f"--data-dir={data_dir}",
                "--name",
                "Vendor RP",
                "--redirect-uri",
                redirect_uri,
                "--backchannel-logout-uri",
                f"{rp_base}/backchannel",
                "--post-logout-redirect-uri",
                f"{rp_base}/bye",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        registration = json.loads(added.stdout)
        card = CardSigner.issue("alice", data_dir)
        query = {
            "response_type": "code",
            "client_id": registration["client_id"],
            "redirect_uri": redirect_uri,
            "scope": "openid profile",
            "state": "s1",
            "nonce": "n1",
        }
        with httpx.Client(verify=context, follow_redirects=False) as browser:
            result = sign_in(browser, f"{issuer}/authorize?{urlencode(query)}", redirect_uri, card)
            assert result.params["state"] == "s1"
            tokens = browser.post(
                f"{issuer}/access_token",
                data={
                    "grant_type": "authorization_code",
                    "code": result.code,
                    "redirect_uri": redirect_uri,
                    "client_id": registration["client_id"],
                    "client_secret": registration["client_secret"],
                },
            ).json()
            keys = KeySet.import_key_set(browser.get(f"{issuer}/connect/jwk_uri").json())
            claims = jwt.decode(tokens["id_token"], keys).claims
            assert claims["sub"] == "555000000101" and claims["amr"] == ["N3_SMARTCARD"]
            bye = browser.get(
                f"{issuer}/connect/endSession",
                params={
                    "id_token_hint": tokens["id_token"],
                    "post_logout_redirect_uri": f"{rp_base}/bye",
                },
            )
            assert bye.status_code == 302
        received = rp.wait("/backchannel")
        assert len(received) == 1
        logout = jwt.decode(received[0], keys).claims
        assert logout["sid"] == claims["sid"] and logout["aud"] == registration["client_id"]
    finally:
        rp.stop()
