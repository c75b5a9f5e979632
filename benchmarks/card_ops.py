"""In-process card operations per second: SELECT, GET DATA of a certificate, VERIFY, signatures.

Each operation runs in rounds, interleaved with the others (A B C … A B C …), and the median
round is reported, so a noisy neighbour slows all operations alike. The last column compares
with a real card's time for the same operation (card-profile.md), as a ratio, not a gate.

Run: .venv/bin/python benchmarks/card_ops.py [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from simulator.card.card import VirtualCard
from simulator.card.factory import blank_card_state
from simulator.card.issue import personalise
from simulator.iso7816.apdu import CommandApdu
from simulator.iso7816.tlv import tlv
from simulator.piv.constants import PIV_AID, Alg, pad_pin
from simulator.pki import TestPKI

PIN = "123456"
REAL_CARD_SECONDS = {  # card-profile.md: one APDU ~40 ms, VERIFY ~10 ms on top, signatures
    "SELECT": 0.040,
    "GET DATA (certificate)": 0.040 * 8,  # ~1.2 kB: eight 61xx/GET RESPONSE round trips
    "VERIFY": 0.050,
    "sign RSA-2048": 0.040 + 0.114,  # mid-range of the 61-201 ms measured on real cards
    "sign P-256": 0.040 + 0.045,
}


def _apdu(ins: int, p1: int, p2: int, data: bytes, le: int | None = 256) -> bytes:
    return CommandApdu(0, ins, p1, p2, data, le).to_bytes()


def operations(card: VirtualCard) -> dict[str, Callable[[], None]]:
    select = _apdu(0xA4, 0x04, 0x00, PIV_AID)
    get_cert = _apdu(0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC105"))
    get_response = _apdu(0xC0, 0, 0, b"")
    verify = _apdu(0x20, 0x00, 0x80, pad_pin(PIN), None)
    info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(b"x").digest()
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(info)) + b"\x00" + info
    rsa_sign = _apdu(0x87, Alg.RSA2048, 0x9A, tlv(0x7C, tlv(0x82) + tlv(0x81, block)), 65536)
    ec_sign = _apdu(
        0x87, Alg.ECC_P256, 0x9E, tlv(0x7C, tlv(0x82) + tlv(0x81, hashlib.sha256().digest()))
    )

    def read_certificate() -> None:
        response = card.execute(get_cert)
        while response[-2] == 0x61:
            response = card.execute(get_response)

    card.execute(verify)  # 9A needs the PIN once; it stays verified for the whole run
    return {
        "SELECT": lambda: card.execute(select) and None,
        "GET DATA (certificate)": read_certificate,
        "VERIFY": lambda: card.execute(verify) and None,
        "sign RSA-2048": lambda: card.execute(rsa_sign) and None,
        "sign P-256": lambda: card.execute(ec_sign) and None,
    }


def measure(operation: Callable[[], None], seconds: float) -> float:
    """Operations per second over a slice of about `seconds`."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        operation()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="per operation per round")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        state = blank_card_state(9, PIN, "12345678")
        personalise(state, TestPKI.open(Path(tmp) / "pki"), name="Bench Mark", uuid="555000000001")
    card = VirtualCard(state)
    ops = operations(card)
    rates: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(args.rounds):
        for name, operation in ops.items():
            rates[name].append(measure(operation, args.seconds))

    print(f"In-process card operations, series 9, median of {args.rounds} interleaved rounds")
    print(f"{'operation':<24}{'ops/s':>12}{'ms/op':>10}{'x real card':>14}")
    for name, values in rates.items():
        rate = statistics.median(values)
        speedup = REAL_CARD_SECONDS[name] * rate
        print(f"{name:<24}{rate:>12,.0f}{1000 / rate:>10.3f}{speedup:>13,.0f}x")


if __name__ == "__main__":
    main()
