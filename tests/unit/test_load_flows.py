"""The load suites' small pure parts: `--flow name:weight`, row names per origin, TOTP steps,
the pool's account roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.accounts import account_entry, is_linking, linking_personas
from loadtests.flows import TotpCodes
from loadtests.instrument import request_name
from loadtests.pool import LoadPersona
from loadtests.run import parse_flows
from reference_service.cis2.totp import STEP, hotp, secret_bytes

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def persona(index: int) -> LoadPersona:
    return LoadPersona(index, f"5559{index:08d}", f"Load User{index:05d}", Path("x"), "1", SECRET)


def test_flows_with_weights() -> None:
    assert parse_flows(("nhsmail:3", "password", "nhsmail")) == (
        ("nhsmail", "password"),
        {"nhsmail": 3},
    )
    assert parse_flows(("smartcard",)) == (("smartcard",), {})
    for bad in ("nope", "nhsmail:0", "nhsmail:x"):
        with pytest.raises(ValueError, match=r"flow|weight"):
            parse_flows((bad,))


def test_rows_are_named_per_origin() -> None:
    labels = {"https://127.0.0.1:2": "nhsmail", "https://127.0.0.1:3": "myidentity"}
    base = "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
    assert request_name("https://127.0.0.1:2/login?x=1", base, labels) == "nhsmail /login"
    assert request_name("https://127.0.0.1:3/login", base, labels) == "myidentity /login"
    provider = f"https://127.0.0.1:1{base}/login/Ab3dEfGh1jKlMnOpQr/smartcard"
    assert request_name(provider, base, labels) == "/login/{id}/smartcard"


@pytest.mark.parametrize(
    ("offset", "steps"),
    [
        (29.9, [1000, 1001]),  # the end of a step: the previous step's code would expire
        (5.0, [999, 1000, 1001]),  # early in a step: the previous one still lives 25 s
    ],
)
def test_totp_codes_go_up_the_window_and_never_repeat(offset: float, steps: list[int]) -> None:
    now = [STEP * 1000 + offset]
    codes = TotpCodes([persona(0)], clock=lambda: now[0])
    for step in steps:
        assert codes.next() == ("555900000000", hotp(secret_bytes(SECRET), step))
    with pytest.raises(AssertionError, match="used their codes"):
        codes.next()
    now[0] += STEP
    assert codes.next()[1] == hotp(secret_bytes(SECRET), 1002)


def test_pool_roles_linked_and_linking() -> None:
    personas = [persona(i) for i in range(8)]
    assert [p.index for p in linking_personas(personas)] == [3, 7]
    linked, linking = account_entry(personas[0], "scrypt$h"), account_entry(personas[3], "scrypt$h")
    assert linked["linked_uuid"] == "555900000000" and linked["mfa_secret"] == SECRET
    assert linking["linked_uuid"] is None and linking["mfa_secret"] is None
    assert is_linking(personas[3]) and linking["email"] == "load.user00003@load.nhs.net"


def test_totp_codes_say_how_long_until_a_code_is_free() -> None:
    now = [STEP * 1000 + 25.0]
    codes = TotpCodes([persona(0)], clock=lambda: now[0])
    assert codes.seconds_until_free() == 0.0
    codes.next(), codes.next()  # steps 1000 and 1001 (999 is too close to its end)
    assert codes.seconds_until_free() == pytest.approx(5.05)
    now[0] += 5.1
    assert codes.seconds_until_free() == 0.0  # step 1002 is the next one now
