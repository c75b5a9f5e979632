"""The physical-card rules, proven on a fake physical card that counts what reached it.

The whole card suite runs against an in-process virtual card behind a transport marked
physical (`tests/conformance/fake_card.py`): read-only sends nothing that changes the card;
destructive never lets the PIN counter reach its last try and leaves it as it found it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.targets import verify_command
from simulator.card.issue import issue_card
from simulator.personas import get_persona
from simulator.piv.constants import pad_pin
from simulator.pki import TestPKI
from simulator.reader.errors import StateChangeRefusedError
from simulator.reader.guard import PhysicalCardGuard
from tests.conformance import fake_card

FAKE = "--careid-transport=tests.conformance.fake_card:make_transport"


def _run(inner: pytest.Pytester, *options: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    run_dir = inner.path / "run"
    result = inner.runpytest(
        "--pyargs",
        "conformance.card",
        FAKE,
        f"--careid-run-dir={run_dir}",
        "-p",
        "no:cacheprovider",
        *options,
    )
    return result, json.loads((run_dir / "results.json").read_text())


@pytest.fixture
def bundle(careid_data_dir: Path) -> str:
    return f"--careid-ca-bundle={TestPKI.open(careid_data_dir / 'pki').ca_bundle_path}"


def test_read_only_sends_nothing_that_changes_the_card(
    inner: pytest.Pytester, careid_data_dir: Path, bundle: str
) -> None:
    witness = fake_card.load(careid_data_dir)
    result, results = _run(inner, bundle)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert witness.commands, "the suite sent nothing"
    assert witness.state_changes == []
    assert witness.pin_tries == witness.lowest_pin_tries == 3
    assert results["mode"] == "read-only"
    outcomes = {test["outcome"] for test in results["tests"]}
    assert outcomes == {"passed", "skipped"}
    skipped = [t for t in results["tests"] if t["outcome"] == "skipped"]
    assert all(t["actual"] for t in skipped), "every skip gives its reason"
    assert any("read-only run on a physical card" in t["actual"] for t in skipped)


@pytest.mark.parametrize("start_tries", [3, 2])
def test_destructive_never_spends_the_last_try(
    inner: pytest.Pytester, careid_data_dir: Path, bundle: str, start_tries: int
) -> None:
    witness = fake_card.load(careid_data_dir)
    card = get_persona("alice").card
    witness.card.state.pin.tries_left = start_tries
    witness.lowest_pin_tries = start_tries
    result, results = _run(
        inner,
        bundle,
        "--careid-destructive",
        f"--careid-pin={card.pin}",
        f"--careid-puk={card.puk}",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert results["mode"] == "destructive"
    assert witness.state_changes, "a destructive run changed nothing"
    # Never down to the last try, and the counter is back at (at least) where it started.
    assert witness.lowest_pin_tries >= 2
    assert witness.pin_tries >= start_tries
    # The PIN and PUK are the card's own again.
    assert witness.card.state.pin.matches(pad_pin(card.pin))
    assert witness.card.state.puk.matches(card.puk.encode())
    ran = {r for t in results["tests"] if t["outcome"] == "passed" for r in t["requirements"]}
    assert {"CARD-PIN-013", "CARD-PUK-001", "CARD-SIGN-001"} <= ran
    if start_tries == 3:
        assert {"CARD-PIN-004", "CARD-PIN-005"} <= ran


SPEND_ONE = """
import pytest

@pytest.mark.requirement("CARD-PIN-004")
def test_spends(card_connection, spare_pin_tries):
    spare_pin_tries(1)
    raise AssertionError("must not get here with 2 tries left")
"""


def test_a_test_that_spends_a_try_skips_without_spare_tries(
    inner: pytest.Pytester, careid_data_dir: Path
) -> None:
    witness = fake_card.load(careid_data_dir)
    witness.card.state.pin.tries_left = 2
    inner.makepyfile(test_spend=SPEND_ONE)
    card = get_persona("alice").card
    result = inner.runpytest(
        FAKE,
        "--careid-destructive",
        f"--careid-pin={card.pin}",
        f"--careid-puk={card.puk}",
        f"--careid-run-dir={inner.path / 'run'}",
        "-p",
        "no:cacheprovider",
        "-rs",
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the card has 2 PIN tries left; spending 1 must leave 2*"])
    assert witness.pin_tries == 2


def test_the_guard_refuses_what_could_reach_the_last_try(careid_data_dir: Path) -> None:
    witness = fake_card.load(careid_data_dir)
    card = get_persona("alice").card
    read_only = PhysicalCardGuard(fake_card.make_transport(), allow_state_changes=False)
    with pytest.raises(StateChangeRefusedError, match="changes the card"):
        read_only.exchange(verify_command(card.pin))
    with pytest.raises(StateChangeRefusedError, match="changes the card"):
        read_only.exchange(bytes.fromhex("00DB3FFF055C017E7E00"))
    assert read_only.exchange(bytes.fromhex("00200080"))[-2:] == b"\x63\xc3"  # a query is fine
    destructive = PhysicalCardGuard(fake_card.make_transport(), allow_state_changes=True)
    witness.card.state.pin.tries_left = 1
    for command in (verify_command("999999"), verify_command(card.pin)):
        with pytest.raises(StateChangeRefusedError, match="only 1 PIN tries left"):
            destructive.exchange(command)
    change = bytes((0x00, 0x24, 0x00, 0x80, 0x10)) + pad_pin("999999") + pad_pin("123456")
    with pytest.raises(StateChangeRefusedError, match="only 1 PIN tries left"):
        destructive.exchange(change)
    assert witness.pin_tries == 1
    assert witness.state_changes == []


def test_issue_card_for_the_fake_uses_the_persona(careid_data_dir: Path) -> None:
    path = issue_card("alice", data_dir=careid_data_dir, out=careid_data_dir / "check.card.json")
    assert path.exists()
