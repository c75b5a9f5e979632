"""Issuing cards for every persona, and the `careid` commands that issue and show them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.x509.oid import NameOID

from conformance.cli import main
from simulator.card.card import VirtualCard
from simulator.card.issue import issue_card
from simulator.card.report import certificate_in
from simulator.card.store import load_card_state, open_card
from simulator.iso7816.sw import SW
from simulator.personas import load_personas
from simulator.piv.constants import KeyRef
from simulator.pki import TestPKI
from tests.cards import raw, verify

PERSONAS = load_personas()


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    data_dir = tmp_path_factory.mktemp("data")
    return data_dir, {name: issue_card(name, data_dir=data_dir) for name in PERSONAS}


@pytest.mark.parametrize("name", list(PERSONAS))
def test_every_persona_gets_a_card_that_matches_it(
    issued: tuple[Path, dict[str, Path]], name: str
) -> None:
    data_dir, paths = issued
    persona = PERSONAS[name]
    state = load_card_state(paths[name])
    assert state.series == persona.card.series
    assert state.uuid == persona.care_identity.uuid
    assert state.faults == frozenset(persona.card.faults)
    assert state.pin.tries_left == (0 if persona.card.locked else 3)
    assert state.puk.limit == persona.card.puk_tries
    cert = certificate_in(state, KeyRef.AUTHENTICATION)
    assert cert is not None
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == state.uuid
    assert persona.care_identity.family_name in str(
        subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    )
    pki = TestPKI.open(data_dir / "pki")
    trusted = pki.issuing_certificate.subject == cert.issuer
    assert trusted == (persona.card.certificate != "untrusted")
    revoked = pki.crl().get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert revoked == (persona.card.certificate == "revoked")
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    if persona.card.certificate == "expired":
        assert cert.not_valid_after_utc < now
    elif persona.card.certificate == "not_yet_valid":
        assert cert.not_valid_before_utc > now
    else:
        assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc


def test_the_persona_pin_opens_the_card(issued: tuple[Path, dict[str, Path]]) -> None:
    _, paths = issued
    card = open_card(paths["alice"])
    assert verify(card, PERSONAS["alice"].card.pin) == SW.SUCCESS


def test_a_locked_persona_card_is_locked(issued: tuple[Path, dict[str, Path]]) -> None:
    _, paths = issued
    locked = [name for name, persona in PERSONAS.items() if persona.card.locked]
    assert locked
    card: VirtualCard = open_card(paths[locked[0]])
    assert verify(card, PERSONAS[locked[0]].card.pin) == SW.AUTH_METHOD_BLOCKED
    assert raw(card, "00 20 00 80")[1] == 0x63C0


def test_card_issue_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "bob.card.json"
    data_dir = str(tmp_path / "data")
    result = runner.invoke(
        main,
        [
            "card",
            "issue",
            "--persona",
            "bob",
            "--pin",
            "24681357",
            "--data-dir",
            data_dir,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    assert verify(open_card(out), "24681357") == SW.SUCCESS

    shown = runner.invoke(main, ["card", "show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert PERSONAS["bob"].care_identity.uuid in shown.output
    assert "PIN tries left      3 of 3" in shown.output
    assert "24681357" not in shown.output and PERSONAS["bob"].card.puk not in shown.output
    state = load_card_state(out)
    assert state.serial in shown.output and "ATR" in shown.output

    as_json = json.loads(runner.invoke(main, ["card", "show", "--json", str(out)]).output)
    assert as_json["uuid"] == PERSONAS["bob"].care_identity.uuid
    assert len(as_json["certificates"]) == 4


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(
        main, ["card", "issue", "--persona", "nobody", "--data-dir", str(tmp_path)]
    )
    assert unknown.exit_code != 0 and "nobody" in unknown.output and "alice" in unknown.output
    bad_pin = runner.invoke(
        main, ["card", "issue", "--persona", "alice", "--pin", "12", "--data-dir", str(tmp_path)]
    )
    assert bad_pin.exit_code != 0 and "PIN" in bad_pin.output
    bad_file = tmp_path / "bad.card.json"
    bad_file.write_text('{"format": "careid-card/1"}')
    shown = runner.invoke(main, ["card", "show", str(bad_file)])
    assert shown.exit_code != 0 and "bad.card.json" in shown.output


def test_personas_list_names_each_with_its_purpose() -> None:
    result = CliRunner().invoke(main, ["personas", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(PERSONAS)
    for name, persona in PERSONAS.items():
        assert any(line.startswith(name + " ") and persona.purpose in line for line in lines)


def test_personas_list_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "personas.toml"
    bad.write_text('[[persona]]\nname = "x"\n')
    result = CliRunner().invoke(main, ["personas", "list", "--personas-file", str(bad)])
    assert result.exit_code != 0 and "personas.toml" in result.output


@pytest.mark.parametrize(
    "command", [[], ["card"], ["card", "issue"], ["card", "show"], ["personas", "list"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
