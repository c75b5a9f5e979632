"""A card process killed mid-write leaves temporary files; the next start sweeps them."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from simulator.card import cardfile
from simulator.card.state import CardState
from simulator.card.store import load_card_state, open_card

WRITER = """
import sys
from pathlib import Path
from simulator.card.store import load_card_state, save_card_state
path = Path(sys.argv[1])
state = load_card_state(path)
print("ready", flush=True)
while True:
    state.pin.tries_left = 3 - state.pin.tries_left % 3
    save_card_state(state, path)
"""


def _leftovers(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def test_kills_mid_write_leave_a_whole_card_and_the_start_sweeps_the_rest(
    tmp_path: Path, card_state: CardState
) -> None:
    path = tmp_path / "alice.card.json"
    other = tmp_path / "bob.card.json"
    path.write_bytes(cardfile.dumps(card_state))
    other.write_bytes(cardfile.dumps(card_state))
    stray_of_other = tmp_path / ".bob.card.json.abcd1234.tmp"
    stray_of_other.write_bytes(b"{")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(7)
    for _ in range(15):
        writer = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert writer.stdout is not None
        writer.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.02))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        load_card_state(path)  # after every kill the card file is whole
    assert len(_leftovers(tmp_path)) > 1, "no kill landed mid-write: the test proved nothing"
    card = open_card(path)
    assert card.state.serial == card_state.serial
    assert _leftovers(tmp_path) == [stray_of_other]  # another card's files are not ours
    assert other.read_bytes() == cardfile.dumps(card_state)
