"""Card files: durable state, atomic replacement, and clear errors for bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from simulator.card import cardfile
from simulator.card.cardfile import CardFileError
from simulator.card.state import CardState
from simulator.card.store import load_card_state, open_card, save_card_state
from simulator.iso7816.sw import SW
from tests.cards import PIN, WRONG_PIN, raw, verify


@pytest.fixture
def card_path(tmp_path: Path, card_state: CardState) -> Path:
    path = tmp_path / "card.json"
    save_card_state(card_state, path)
    return path


def test_round_trip_keeps_everything(card_state: CardState) -> None:
    again = cardfile.loads(cardfile.dumps(card_state))
    assert again.serial == card_state.serial and again.guid == card_state.guid
    assert again.objects == card_state.objects
    assert again.keys.keys() == card_state.keys.keys()
    for slot, key in card_state.keys.items():
        assert again.keys[slot].private_key.public_key() == key.private_key.public_key()
    assert again.pin.matches(card_state.pin.salt and b"123456\xff\xff")


def test_the_file_never_holds_the_pin_or_puk(card_path: Path) -> None:
    text = card_path.read_text()
    assert PIN not in text and "87654321" not in text
    assert PIN.encode().hex() not in text


def test_a_locked_card_is_still_locked_after_a_restart(card_path: Path) -> None:
    card = open_card(card_path)
    for _ in range(3):
        verify(card, WRONG_PIN)
    restarted = open_card(card_path)
    assert verify(restarted) == SW.AUTH_METHOD_BLOCKED
    assert raw(restarted, "00 20 00 80")[1] == 0x63C0


def test_each_wrong_pin_is_on_disk_before_the_answer(card_path: Path) -> None:
    card = open_card(card_path)
    assert verify(card, WRONG_PIN) == 0x63C2
    assert load_card_state(card_path).pin.tries_left == 2
    assert verify(card) == SW.SUCCESS
    assert load_card_state(card_path).pin.tries_left == 3


def test_a_crash_mid_write_leaves_the_old_card(
    card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = card_path.read_bytes()
    card = open_card(card_path)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("power cut during the rename")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_card_state(card.state, card_path)
    monkeypatch.undo()
    assert card_path.read_bytes() == before
    assert [p.name for p in card_path.parent.iterdir()] == [card_path.name]  # no temp left


def test_a_persist_failure_is_6f00_not_an_exception(
    card_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = open_card(card_path)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    assert verify(card, WRONG_PIN) == SW.INTERNAL_ERROR


def _mutate(path: Path, change: dict[str, object]) -> bytes:
    record = json.loads(path.read_text())
    record.update(change)
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"serial": "12ab"}, "serial"),
        ({"series": 7}, "series"),
        ({"format": "careid-card/9"}, "format"),
        ({"unexpected": 1}, "unexpected"),
        ({"objects": {"5fc1zz": "00"}}, "objects"),
        ({"pin": {"salt": "00", "digest": "00", "tries_left": -1, "limit": 3}}, "pin.tries_left"),
    ],
)
def test_bad_card_files_name_the_field(
    card_path: Path, change: dict[str, object], field: str
) -> None:
    with pytest.raises(CardFileError, match=field.replace(".", r"\.")):
        cardfile.loads(_mutate(card_path, change), source="card.json")


def test_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(CardFileError, match="cannot read"):
        load_card_state(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CardFileError, match=r"broken\.json"):
        load_card_state(broken)


def test_bad_private_key_is_reported(card_path: Path) -> None:
    record = json.loads(card_path.read_text())
    record["keys"]["9a"]["pem"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    with pytest.raises(CardFileError, match=r"keys\.9a\.pem"):
        cardfile.loads(json.dumps(record).encode())
