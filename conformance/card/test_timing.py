"""The virtual card's own timing: no real-card delays unless a timing mode was asked for."""

from __future__ import annotations

import statistics
import time

import pytest

from conformance.card.helpers import check_sw, select_piv
from simulator.iso7816.sw import SW
from simulator.reader.connection import CardConnection

requirement = pytest.mark.requirement
REAL_CARD_APDU_SECONDS = 0.040  # reference/card-profile.md: one APDU on a real Java Card
SAMPLES = 9


@requirement("CARD-VIRT-001", expected="median SELECT round trip under 20 ms (half a real card's)")
def test_no_card_timing(card_connection: CardConnection) -> None:
    """The virtual card answers without a real card's delays."""
    # Not a benchmark: a median of a few round trips against half a real card's time is far
    # from both the virtual card (well under 1 ms) and the `slow` timing mode (40 ms or more).
    durations = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        check_sw(select_piv(card_connection)[1], SW.SUCCESS, what="SELECT PIV")
        durations.append(time.perf_counter() - started)
    median = statistics.median(durations)
    limit = REAL_CARD_APDU_SECONDS / 2
    assert median < limit, (
        f"median SELECT took {median * 1000:.1f} ms (limit {limit * 1000:.0f} ms)"
    )
