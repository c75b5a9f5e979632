"""SELECT, application selection and the security status it keeps or clears."""

from __future__ import annotations

from simulator.card.card import VirtualCard
from simulator.iso7816.sw import SW
from simulator.iso7816.tlv import find, iter_tlv
from simulator.piv.constants import CARD_MANAGER_AID, PIV_AID, Alg
from tests.cards import raw, send, verify


def select(card: VirtualCard, aid: bytes, p2: int = 0) -> tuple[bytes, int]:
    return send(card, 0xA4, 0x04, p2, aid, le=256)


def test_full_aid_returns_the_application_property_template(card: VirtualCard) -> None:
    data, sw = select(card, PIV_AID)
    assert sw == SW.SUCCESS
    ((tag, apt),) = iter_tlv(data)
    assert tag == 0x61
    items = list(iter_tlv(apt))
    assert find(items, 0x4F) == PIV_AID[5:]
    assert find(iter_tlv(find(items, 0x79) or b""), 0x4F) == PIV_AID[:5]
    assert b"Series 9" in (find(items, 0x50) or b"")
    algorithms = list(iter_tlv(find(items, 0xAC) or b""))
    assert (0x80, bytes([Alg.RSA2048])) in algorithms
    assert (0x80, bytes([Alg.ECC_P256])) in algorithms
    assert algorithms[-1] == (0x06, b"\x00")


def test_right_truncated_aids_select_piv(card: VirtualCard) -> None:
    full, _ = select(card, PIV_AID)
    for length in (5, 9):
        data, sw = select(card, PIV_AID[:length])
        assert (data, sw) == (full, SW.SUCCESS)


def test_too_short_or_unknown_aid_is_not_found_and_changes_nothing(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    assert select(card, PIV_AID[:4])[1] == SW.NOT_FOUND
    assert select(card, bytes.fromhex("A000000309"))[1] == SW.NOT_FOUND
    assert select(card, b"")[1] == SW.NOT_FOUND
    assert card.piv.pin_verified
    assert raw(card, "00 20 00 80")[1] == SW.SUCCESS


def test_select_p1_p2_must_be_by_name(card: VirtualCard) -> None:
    assert send(card, 0xA4, 0x00, 0x00, PIV_AID)[1] == SW.INCORRECT_P1P2
    assert send(card, 0xA4, 0x04, 0x02, PIV_AID)[1] == SW.INCORRECT_P1P2
    assert select(card, PIV_AID, p2=0x0C) == (b"", SW.SUCCESS)


def test_selecting_another_application_clears_security_status(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    data, sw = select(card, CARD_MANAGER_AID)
    assert sw == SW.SUCCESS and CARD_MANAGER_AID in data
    assert raw(card, "00 CB 3F FF 03 5C 01 7E 00")[1] == SW.INS_NOT_SUPPORTED
    assert select(card, PIV_AID)[1] == SW.SUCCESS
    assert raw(card, "00 20 00 80")[1] == 0x63C3


def test_reselecting_piv_keeps_security_status(card: VirtualCard) -> None:
    assert verify(card) == SW.SUCCESS
    assert select(card, PIV_AID)[1] == SW.SUCCESS
    assert raw(card, "00 20 00 80")[1] == SW.SUCCESS


def test_power_up_and_reset_clear_security_status(card: VirtualCard) -> None:
    for event in (card.reset, card.power_up, card.power_down):
        assert verify(card) == SW.SUCCESS
        event()
        assert raw(card, "00 20 00 80")[1] == 0x63C3


def test_piv_is_the_default_application_after_power_up(card: VirtualCard) -> None:
    select(card, CARD_MANAGER_AID)
    card.power_up()
    assert raw(card, "00 CB 3F FF 03 5C 01 7E 00")[1] == SW.SUCCESS


def test_terminated_card_warns_on_select(card: VirtualCard) -> None:
    card.state.pin.tries_left = 0
    card.state.puk.tries_left = 0
    data, sw = select(card, PIV_AID)
    assert sw == SW.WARNING_SELECTED_FILE_DEACTIVATED
    assert data.startswith(b"\x61")


def test_atr_is_contact_t1_with_valid_checksum(any_series_card: VirtualCard) -> None:
    atr = any_series_card.atr
    assert atr[0] == 0x3B
    assert not (atr[1] & 0xF0 == 0x80 and atr[2:4] == b"\x80\x01"), "contactless-style ATR"
    checksum = 0
    for byte in atr[1:]:
        checksum ^= byte
    assert checksum == 0  # TCK makes the XOR of T0..TCK zero
    assert 0x81 in atr[2:6]  # TD1 announces T=1


def test_series_have_distinct_atrs_and_labels(issued_cards: dict[int, object]) -> None:
    from simulator.card.profile import PROFILES

    assert len({p.atr for p in PROFILES.values()}) == 3
    assert len({p.label for p in PROFILES.values()}) == 3


def test_get_version(card: VirtualCard) -> None:
    data, sw = raw(card, "00 FD 00 00 00")
    assert sw == SW.SUCCESS and len(data) == 3
    assert raw(card, "00 FD 01 00 00")[1] == SW.INCORRECT_P1P2
    assert raw(card, "00 FD 00 00 01 AA")[1] == SW.WRONG_LENGTH
