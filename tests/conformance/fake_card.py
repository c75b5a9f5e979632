"""A fake physical card: an in-process virtual card behind a transport marked physical.

The plugin treats a `--careid-transport` card as a card it does not own (read-only unless
destructive, never the last PIN try). This transport counts what reached the card, so tests
can prove those rules held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simulator.card.card import VirtualCard
from simulator.card.issue import issue_card
from simulator.card.store import load_card_state
from simulator.reader.guard import state_change


@dataclass
class Witness:
    card: VirtualCard
    commands: list[bytes] = field(default_factory=list)
    state_changes: list[str] = field(default_factory=list)
    lowest_pin_tries: int = 99

    @property
    def pin_tries(self) -> int:
        return self.card.state.pin.tries_left


WITNESS: Witness | None = None


def load(data_dir: Path, persona: str = "alice") -> Witness:
    """Issue a fresh card for `persona` and make it the card every fake transport reaches."""
    global WITNESS  # noqa: PLW0603 - the inner pytest run finds the card through this module
    path = issue_card(persona, data_dir=data_dir, out=data_dir / f"fake-{persona}.card.json")
    WITNESS = Witness(VirtualCard(load_card_state(path)))
    return WITNESS


class FakePhysicalTransport:
    name = "Fake Vendor Reader 00 00"

    def __init__(self, witness: Witness) -> None:
        self.witness = witness

    @property
    def atr(self) -> bytes:
        return self.witness.card.atr

    def exchange(self, apdu: bytes) -> bytes:
        witness = self.witness
        witness.commands.append(apdu)
        what = state_change(apdu)
        if what is not None:
            witness.state_changes.append(what)
        response = witness.card.execute(apdu)
        witness.lowest_pin_tries = min(witness.lowest_pin_tries, witness.pin_tries)
        return response

    def close(self) -> None:
        """The card stays in the reader."""


def make_transport() -> FakePhysicalTransport:
    if WITNESS is None:
        raise RuntimeError("call fake_card.load() before the run")
    return FakePhysicalTransport(WITNESS)
