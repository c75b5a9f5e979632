"""vsmartcard's own card operating systems, served by the project's runner.

The runner keeps vsmartcard's `SmartcardOS` contract, so any of vsmartcard's card types runs
in a slot unchanged: `python -m simulator.reader.runner --factory
simulator.reader.vsmartcard_os:iso7816 --port P`. The benchmark uses it to compare loops on
the same card, and tests use it to show the contract holds.
"""

from __future__ import annotations

from virtualsmartcard.CardGenerator import CardGenerator
from virtualsmartcard.VirtualSmartcard import Iso7816OS

from simulator.reader.runner import SmartcardOSCard


def iso7816() -> SmartcardOSCard:
    """vsmartcard's generic ISO 7816 card (what `vicc -t iso7816` serves)."""
    filesystem, sam = CardGenerator("iso7816").getCard()
    return SmartcardOSCard(Iso7816OS(filesystem, sam))
