"""Card files on disk: load a card, and write its state back atomically on every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.atomic import atomic_write_bytes, remove_leftovers
from simulator.card import cardfile
from simulator.card.card import VirtualCard
from simulator.card.cardfile import CardFileError
from simulator.card.state import CardState

CARD_SUFFIX = ".card.json"


def load_card_state(path: Path) -> CardState:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CardFileError(f"{path}: cannot read the card file: {exc.strerror}") from None
    return cardfile.loads(data, source=str(path))


def save_card_state(state: CardState, path: Path) -> None:
    """Replace the card file as a whole: a crash leaves the old card or the new, never a mix."""
    atomic_write_bytes(Path(path), cardfile.dumps(state))


def open_card(path: Path, **options: Any) -> VirtualCard:
    """A card that keeps its file up to date: a locked card stays locked after a restart.

    The card's own writer starts here, so temporary files of a writer killed mid-write
    (a card process killed, a power cut) are swept first.
    """
    path = Path(path)
    remove_leftovers(path)
    return VirtualCard(
        load_card_state(path), persist=lambda state: save_card_state(state, path), **options
    )
