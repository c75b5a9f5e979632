"""What the agent tests share: starting a sign request, answering the dialog, checking a
signature over the sign-in message."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from conformance.agent.client import AgentClient, Answer
from simulator.agent.protocol import b64url_decode, signin_message

FINAL = {"signed", "cancelled", "failed"}


def expect_status(answer: Answer, status: int, what: str) -> Any:
    assert answer.status == status, (
        f"{what}: expected HTTP {status}, got {answer.status} {answer.body}"
    )
    return answer.body


def start_sign(agent: AgentClient, challenge: str, **fields: Any) -> dict[str, Any]:
    """POST /v1/sign that must ask for the PIN: the request (202, pin_required, dialog_url)."""
    body = expect_status(agent.sign(challenge, **fields), 202, "POST /v1/sign (PIN needed)")
    assert body["state"] == "pin_required", f"state {body['state']!r}, expected pin_required"
    assert body.get("dialog_url"), "a pin_required request names its dialog_url"
    return dict(body)


def check_signature(result: dict[str, Any], origin: str, challenge: str) -> x509.Certificate:
    """The result's signature verifies with its certificate over the sign-in message."""
    certificate = x509.load_der_x509_certificate(b64url_decode(result["certificate"]))
    signature = b64url_decode(result["signature"])
    message = signin_message(origin, challenge)
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        assert result["algorithm"] == "RSA-PKCS1-SHA256", result["algorithm"]
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey), type(key).__name__
        assert result["algorithm"] == "ECDSA-P256-SHA256", result["algorithm"]
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    assert result["origin"] == origin, f"origin {result['origin']!r}, expected {origin!r}"
    assert result["challenge"] == challenge, "the result names the challenge as sent"
    return certificate


def card_commands(env: Any) -> list[str]:
    """The commands the reference agent sent to this test's card so far (masked hex)."""
    transcript = env.transcripts.current
    return [] if transcript is None else [record.command for record in transcript.records]


def general_authenticates(env: Any) -> int:
    return sum(1 for command in card_commands(env) if command[3:5] == "87")
