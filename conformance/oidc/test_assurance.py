"""acr and amr (CIS2's assurance levels and mechanisms)."""

from __future__ import annotations

import pytest

from conformance.oidc.rp import RelyingParty


@pytest.mark.requirement("CIS2-ACR-001")
def test_default_acr_is_aal3_smartcard(rp: RelyingParty) -> None:
    """No acr_values: acr AAL3_ANY, amr N3_SMARTCARD, assurance level 3."""
    claims = rp.redeem(rp.sign_in()).claims
    assert claims.get("acr") == "AAL3_ANY"
    assert claims.get("amr") == ["N3_SMARTCARD"]
    assert claims.get("authentication_assurance_level") == "3"


@pytest.mark.requirement("CIS2-ACR-002")
def test_requested_acr_is_echoed(rp: RelyingParty) -> None:
    """AAL2_OR_AAL3_ANY, satisfied by the smartcard, is echoed."""
    claims = rp.redeem(rp.sign_in(acr_values="AAL2_OR_AAL3_ANY")).claims
    assert claims.get("acr") == "AAL2_OR_AAL3_ANY"
    assert claims.get("amr") == ["N3_SMARTCARD"]


@pytest.mark.requirement("CIS2-ACR-003")
@pytest.mark.parametrize(
    ("acr", "error"),
    [("AAL9_MAGIC", "invalid_request"), ("AAL3_FIDO2", "access_denied")],
    ids=["unknown", "unavailable"],
)
def test_unusable_acr_values(rp: RelyingParty, acr: str, error: str) -> None:
    """Unknown values are invalid_request; unsatisfiable ones access_denied."""
    answer, sent, params = rp.authorize_error(acr_values=acr)
    assert params is not None, f"not redirected back: {answer.status_code}"
    assert params.get("error") == error, params
    assert params.get("state") == sent["state"]
