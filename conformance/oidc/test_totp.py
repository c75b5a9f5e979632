"""The authenticator app (TOTP, AAL2): wrong codes are limited, then even the right one fails."""

from __future__ import annotations

import time

import pytest

from conformance.oidc.flow import FlowError
from conformance.oidc.rp import RelyingParty
from reference_service.cis2.totp import STEP, totp

NIST_MAX = 100  # SP 800-63B 5.2.2: no more than 100 consecutive failed attempts


def _wrong_code(secret: str) -> str:
    """A code no step near now matches (a provider may accept a step or two of drift)."""
    now = time.time()
    near = {totp(secret, now + d * STEP) for d in range(-3, 4)}
    return next(f"{n:06d}" for n in range(1000, 2000) if f"{n:06d}" not in near)


@pytest.mark.requirement("CIS2-TOTP-001")
def test_wrong_codes_lock_the_authenticator_app(rp: RelyingParty) -> None:
    """After N wrong codes for one user, each from a new sign-in, the right code is refused
    (N: the target's stated threshold, else 100, the most the clause allows)."""
    provider = rp.provider
    if "AAL2_TOTP" not in (rp.discovery.get("acr_values_supported") or []):
        pytest.skip("the provider offers no authenticator-app mechanism (no AAL2_TOTP)")
    user, secret = provider.totp_user, provider.totp_secret
    if not user or not secret:
        pytest.skip("no authenticator-app user and secret are configured ([totp] user, secret)")
    sign_in_with = getattr(provider.driver, "totp_sign_in", None)
    if sign_in_with is None:
        pytest.skip("the login driver cannot sign in with an authenticator app (totp_sign_in)")
    threshold = min(provider.totp_lockout_threshold, NIST_MAX)

    def accepted(code: str) -> bool:
        with provider.http() as http:
            url, _ = rp.authorize_url(acr_values="AAL2_TOTP", prompt="login")
            try:
                result = sign_in_with(http, url, provider.main.redirect_uri, user, code)
            except FlowError:
                return False
            return bool(result.code)

    # The right code works to begin with (and forgets failures of earlier runs).
    used_step = int(time.time() // STEP)
    assert accepted(totp(secret, time.time())), "the right code is refused before any wrong one"
    for attempt in range(1, threshold + 1):
        assert not accepted(_wrong_code(secret)), f"wrong code {attempt} was accepted"
    while int(time.time() // STEP) == used_step:  # a code not used yet (no replay refusal)
        time.sleep(0.5)
    assert not accepted(totp(secret, time.time())), (
        f"after {threshold} wrong codes the right code was still accepted: no lockout"
    )
