"""Fixtures shared by the project's tests: a test PKI and issued cards of each series."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.card.card import VirtualCard
from simulator.card.factory import blank_card_state
from simulator.card.issue import personalise
from simulator.card.state import CardState
from simulator.pki import TestPKI
from tests.cards import PIN, PUK, clone

# pytester drives the conformance plugin in tests/conformance; it must be named at the top level.
pytest_plugins = ["pytester"]

UUID = "555000000042"
NAME = "Test Cardholder"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI.open(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def issued_cards(pki: TestPKI) -> dict[int, CardState]:
    """One personalised card per series, issued once; tests get clones."""
    cards = {}
    for series in (8, 9, 10):
        state = blank_card_state(series, PIN, PUK)
        personalise(state, pki, name=NAME, uuid=UUID)
        cards[series] = state
    return cards


@pytest.fixture
def card_state(issued_cards: dict[int, CardState]) -> CardState:
    return clone(issued_cards[9])


@pytest.fixture
def card(card_state: CardState) -> VirtualCard:
    return VirtualCard(card_state)


@pytest.fixture(params=[8, 9, 10], ids=lambda s: f"series{s}")
def any_series_card(
    request: pytest.FixtureRequest, issued_cards: dict[int, CardState]
) -> Iterator[VirtualCard]:
    yield VirtualCard(clone(issued_cards[request.param]))


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAREID_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
