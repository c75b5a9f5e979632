"""Personas: the packaged file, the model rules and the loader's error messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.personas import (
    DEFAULT_PERSONAS_PATH,
    CardSpec,
    NhsMailAccount,
    Persona,
    PersonaFileError,
    UnknownPersonaError,
    get_persona,
    load_personas,
    password_problem,
)

REQUIRED = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy",
    "fault-wrong-sw", "fault-no-decrement", "fault-slow", "fault-drop",
]  # fmt: skip

# One valid persona; each bad case below changes one line of it.
ZARA = """\
[[persona]]
name = "zara"
purpose = "A persona for the loader's own tests."

[persona.care_identity]
uuid = "555000009901"
given_name = "Zara"
family_name = "Quinn"

[[persona.care_identity.organisations]]
org_code = "RX1"
org_name = "NHS Test Trust"

[[persona.care_identity.roles]]
org_code = "RX1"
org_name = "NHS Test Trust"
role_code = "S8000:G8000:R8000"
role_name = "Clinical Practitioner Access Role"
person_roleid = "555100009901"

[persona.nhsmail]
email = "zara.quinn@nhs.net"
password = "Walnut!Sky2024"
mfa_secret = "JBSWY3DPEHPK3PXPJBSWY3DP"
aup_accepted = true
status = "active"
linked = true

[persona.card]
series = 9
pin = "246810"
puk = "13572468"
"""


def write(tmp_path: Path, text: str, name: str = "personas.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> PersonaFileError:
    path = write(tmp_path, text)
    with pytest.raises(PersonaFileError) as caught:
        load_personas(path)
    message = str(caught.value)
    assert str(path) in message
    return caught.value


@pytest.fixture(scope="module")
def personas() -> dict[str, Persona]:
    return load_personas()


# -- the packaged personas -----------------------------------------------------------------


def test_packaged_file_has_every_required_persona(personas: dict[str, Persona]) -> None:
    assert DEFAULT_PERSONAS_PATH.name == "personas.toml"
    assert DEFAULT_PERSONAS_PATH.is_file()
    assert set(REQUIRED) <= set(personas)
    for name, persona in personas.items():
        assert persona.name == name
        assert persona.purpose.strip()


def test_role_counts(personas: dict[str, Persona]) -> None:
    counts = {name: len(personas[name].care_identity.roles) for name in REQUIRED}
    assert counts["judy"] == 0
    assert counts["alice"] == 1
    assert counts["bob"] == 3
    assert counts["mallory"] == 7


def test_each_persona_has_its_trait(personas: dict[str, Persona]) -> None:
    def mail(name: str) -> NhsMailAccount:
        account = personas[name].nhsmail
        assert account is not None, name
        return account

    alice = personas["alice"]
    assert mail("alice").linked and mail("alice").status == "active"
    assert mail("alice").aup_accepted and mail("alice").mfa_secret is None
    assert alice.card.series == 9 and alice.card.certificate == "valid"
    assert not alice.card.locked and alice.card.faults == ()
    assert not mail("bob").linked and mail("bob").aup_accepted
    assert personas["bob"].card.series == 10
    assert not mail("carol").aup_accepted
    assert mail("dave").mfa_secret is not None and mail("dave").linked
    assert personas["dave"].card.series == 8
    assert personas["erin"].card.locked
    assert personas["frank"].card.certificate == "revoked"
    assert personas["grace"].card.certificate == "expired"
    assert personas["heidi"].card.certificate == "untrusted"
    assert personas["ivan"].card.certificate == "not_yet_valid"
    assert mail("niaj").status == "disabled"
    assert mail("olivia").status == "locked"
    assert personas["peggy"].nhsmail is None
    assert personas["fault-wrong-sw"].card.faults == ("wrong_sw_on_wrong_pin",)
    assert personas["fault-no-decrement"].card.faults == ("counter_not_decremented",)
    assert personas["fault-slow"].card.faults == ("slow",)
    assert personas["fault-drop"].card.faults == ("drop_connection",)


def test_identifiers_and_secrets_follow_the_rules(personas: dict[str, Persona]) -> None:
    uuids = [p.care_identity.uuid for p in personas.values()]
    assert len(set(uuids)) == len(uuids)
    assert all(re.fullmatch(r"5550[0-9]{8}", uuid) for uuid in uuids)
    pins = [p.card.pin for p in personas.values()]
    assert all(re.fullmatch(r"[0-9]{6,8}", pin) for pin in pins)
    assert {len(pin) for pin in pins} == {6, 7, 8}, "PIN lengths should vary"
    assert len(set(pins)) == len(pins)
    assert all(re.fullmatch(r"[0-9]{8}", p.card.puk) for p in personas.values())
    for persona in personas.values():
        if persona.nhsmail is not None:
            account = persona.nhsmail
            assert account.email.endswith("@nhs.net")
            assert password_problem(account.password, account.username) is None
        roles = persona.care_identity.roles
        codes = {org.org_code for org in persona.care_identity.organisations}
        assert all(role.org_code in codes for role in roles)


def test_get_persona(tmp_path: Path) -> None:
    assert get_persona("alice").care_identity.given_name == "Alice"
    assert get_persona("zara", write(tmp_path, ZARA)).care_identity.uuid == "555000009901"


def test_unknown_persona_lists_the_others() -> None:
    with pytest.raises(UnknownPersonaError) as caught:
        get_persona("zed")
    assert isinstance(caught.value, LookupError)
    message = str(caught.value)
    assert "'zed'" in message
    assert "alice" in message and "fault-drop" in message


def test_display_name(personas: dict[str, Persona]) -> None:
    assert personas["alice"].care_identity.display_name == "Dr Alice Smith"
    assert personas["bob"].care_identity.display_name == "Bob Jones"


def test_personas_are_frozen(personas: dict[str, Persona]) -> None:
    with pytest.raises(ValidationError):
        personas["alice"].card.pin = "000000"


# -- secrets stay out of text --------------------------------------------------------------


def test_secrets_are_not_in_repr_or_str(personas: dict[str, Persona]) -> None:
    for persona in personas.values():
        secrets = [persona.card.pin, persona.card.puk]
        if persona.nhsmail is not None:
            secrets.append(persona.nhsmail.password)
            if persona.nhsmail.mfa_secret:
                secrets.append(persona.nhsmail.mfa_secret)
        texts = [repr(persona), str(persona), repr(persona.card), str(persona.card)]
        if persona.nhsmail is not None:
            texts += [repr(persona.nhsmail), str(persona.nhsmail)]
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{persona.name}: a secret shows in {text!r}"
        assert "card=CardSpec(" in repr(persona)  # the rest of the card is still shown


# -- the loader's errors -------------------------------------------------------------------


def test_the_sample_persona_is_valid(tmp_path: Path) -> None:
    assert list(load_personas(write(tmp_path, ZARA))) == ["zara"]


BAD_CASES = [
    ('pin = "246810"', 'pin = "12345"', "card.pin", "a PIN is 6 to 8 digits"),
    ('pin = "246810"', 'pin = "123456789"', "card.pin", "a PIN is 6 to 8 digits"),
    ('pin = "246810"', 'pin = "12345x"', "card.pin", "a PIN is 6 to 8 digits"),
    ('pin = "246810"', "pin = 246810", "card.pin", "quoted string"),
    ('pin = "246810"', "", "card.pin", "required field is missing"),
    ('puk = "13572468"', 'puk = "1357246"', "card.puk", "a PUK is exactly 8 digits"),
    ("series = 9", "series = 7", "card.series", "8, 9 or 10"),
    ("series = 9", 'series = "9"', "card.series", "8, 9 or 10"),
    ("series = 9", "series = 9\ncolour = 'red'", "card.colour", "unknown field"),
    ("series = 9", "series = 9\npuk_tries = 11", "card.puk_tries", "less than or equal to 10"),
    ("series = 9", 'series = 9\ncertificate = "bent"', "card.certificate", "'valid'"),
    ("series = 9", 'series = 9\nfaults = ["slow", "slow"]', "card.faults", "listed twice"),
    ("series = 9", 'series = 9\nfaults = ["melt"]', "card.faults[0]", "'slow'"),
    ('uuid = "555000009901"', 'uuid = "55500000990"', "care_identity.uuid", "12 digits"),
    ('uuid = "555000009901"', "uuid = 555000009901", "care_identity.uuid", "12 digits"),
    (
        'role_code = "S8000:G8000:R8000"',
        'role_code = "Doctor"',
        "care_identity.roles[0].role_code",
        "S8000:G8000:R8000",
    ),
    (
        'person_roleid = "555100009901"',
        'person_roleid = "1"',
        "care_identity.roles[0].person_roleid",
        "12 digits",
    ),
    (
        'org_code = "RX1"\norg_name = "NHS Test Trust"\nrole_code',
        'org_code = "RX9"\norg_name = "NHS Test Trust"\nrole_code',
        "care_identity.roles",
        "not among the organisations",
    ),
    ('given_name = "Zara"', 'given_name = "  "', "care_identity.given_name", "blank"),
    ('email = "zara.quinn@nhs.net"', 'email = "zara@gmail.com"', "nhsmail.email", "@nhs.net"),
    ('password = "Walnut!Sky2024"', 'password = "Ab1!"', "nhsmail.password", "8 characters"),
    ('password = "Walnut!Sky2024"', 'password = "walnutsky"', "nhsmail.password", "3 of"),
    ('password = "Walnut!Sky2024"', 'password = "Quinn!2024x"', "nhsmail.password", "user name"),
    (
        'mfa_secret = "JBSWY3DPEHPK3PXPJBSWY3DP"',
        'mfa_secret = "not-base32!"',
        "nhsmail.mfa_secret",
        "base32",
    ),
    ('status = "active"', 'status = "frozen"', "nhsmail.status", "'active'"),
    ("linked = true", 'linked = "yes"', "nhsmail.linked", "valid boolean"),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    BAD_CASES,
    ids=[f"{case[2]}-{index}" for index, case in enumerate(BAD_CASES)],
)
def test_bad_field_names_persona_field_and_reason(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    assert old in ZARA
    error = load_error(tmp_path, ZARA.replace(old, new, 1))
    message = str(error)
    assert f"persona 'zara' → {field}: " in message
    assert reason in message
    assert error.persona == "zara"
    assert error.field == field
    for secret in ("246810", "13572468", "Walnut!Sky2024", "JBSWY3DPEHPK3PXPJBSWY3DP"):
        assert secret not in message, "a secret leaked into an error message"


def test_message_format_matches_the_documented_example(tmp_path: Path) -> None:
    text = ZARA.replace('name = "zara"', 'name = "erin"').replace('"246810"', '"12"')
    error = load_error(tmp_path, text)
    assert str(error).endswith("personas.toml: persona 'erin' → card.pin: a PIN is 6 to 8 digits")


def test_bad_name_uses_the_position(tmp_path: Path) -> None:
    error = load_error(tmp_path, ZARA.replace('name = "zara"', 'name = "Zara Quinn"'))
    assert "persona 'Zara Quinn' → name: a persona name is lower-case" in str(error)
    error = load_error(tmp_path, ZARA.replace('name = "zara"\n', ""))
    assert "persona #1 → name: required field is missing" in str(error)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = ZARA.replace('pin = "246810"', 'pin = "1"').replace("series = 9", "series = 11")
    error = load_error(tmp_path, text)
    assert {problem.field for problem in error.problems} == {"card.pin", "card.series"}
    assert len(str(error).splitlines()) == 2


def second_persona(name: str = "yuri", uuid: str = "555000009902", email: str = "yuri.ng") -> str:
    return (
        ZARA.replace('name = "zara"', f'name = "{name}"')
        .replace("555000009901", uuid)
        .replace("555100009901", "555100009902")
        .replace("zara.quinn", email)
    )


def test_two_personas_load_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, ZARA + "\n" + second_persona())
    assert list(load_personas(path)) == ["zara", "yuri"]


def test_duplicate_name(tmp_path: Path) -> None:
    error = load_error(tmp_path, ZARA + "\n" + second_persona(name="zara"))
    assert "persona 'zara' → name: 'zara' is already used by an earlier persona" in str(error)


def test_duplicate_uuid(tmp_path: Path) -> None:
    error = load_error(tmp_path, ZARA + "\n" + second_persona(uuid="555000009901"))
    assert "persona 'yuri' → care_identity.uuid: '555000009901' is already used by 'zara'" in str(
        error
    )


def test_duplicate_email(tmp_path: Path) -> None:
    error = load_error(tmp_path, ZARA + "\n" + second_persona(email="Zara.Quinn"))
    assert "persona 'yuri' → nhsmail.email: 'zara.quinn@nhs.net' is already used" in str(error)


def test_duplicate_person_roleid(tmp_path: Path) -> None:
    text = ZARA + "\n" + second_persona().replace("555100009902", "555100009901")
    error = load_error(tmp_path, text)
    assert "care_identity.roles.person_roleid: '555100009901' is already used" in str(error)


def test_bad_toml_gives_line_and_column(tmp_path: Path) -> None:
    error = load_error(tmp_path, ZARA.replace("series = 9", "series = = 9"))
    message = str(error)
    assert "invalid TOML" in message
    assert re.search(r"line \d+, column \d+", message)


def test_file_without_personas(tmp_path: Path) -> None:
    assert "no [[persona]] tables" in str(load_error(tmp_path, "# nothing here\n"))
    error = load_error(tmp_path, 'title = "x"\n' + ZARA)
    assert "title: unknown top-level key" in str(error)
    error = load_error(tmp_path, '[persona]\nname = "zara"\n')
    assert "[[persona]]" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PersonaFileError, match=r"missing\.toml"):
        load_personas(tmp_path / "missing.toml")


def test_role_organisation_names_must_agree(tmp_path: Path) -> None:
    text = ZARA.replace(
        'org_code = "RX1"\norg_name = "NHS Test Trust"\nrole_code',
        'org_code = "RX1"\norg_name = "Another Trust"\nrole_code',
    )
    assert "differs from the organisation's name" in str(load_error(tmp_path, text))


# -- model rules, property-tested ----------------------------------------------------------


@given(st.text(alphabet="0123456789", min_size=6, max_size=8))
def test_any_six_to_eight_digits_is_a_pin(pin: str) -> None:
    assert CardSpec(pin=pin, puk="12345678").pin == pin


@given(st.text(max_size=12).filter(lambda s: not re.fullmatch(r"[0-9]{6,8}", s)))
def test_anything_else_is_not_a_pin(pin: str) -> None:
    with pytest.raises(ValidationError, match="a PIN is 6 to 8 digits"):
        CardSpec(pin=pin, puk="12345678")


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Harbour!Lantern42", True),
        ("lowercase1!", True),  # three classes are enough
        ("ALLUPPER123", False),  # only two classes
        ("Sh0rt!", False),
        ("Alice.Smith1!", False),  # contains the user name
        ("MySmith!2024", False),  # contains part of it
    ],
)
def test_nhsmail_password_rule(password: str, ok: bool) -> None:
    assert (password_problem(password, "alice.smith") is None) is ok
