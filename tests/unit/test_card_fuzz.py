"""Fuzz test of the card boundary: 100,000+ random and mutated APDUs to one card per run.

Every response must be bytes of at least two bytes whose status word is one the profile uses
(`is_valid_sw`), never `6F 00` (the card's answer to its own bugs), and error status words
carry no data. A shadow model of the PIN and PUK predicts, for every APDU, the counters, the
values, the PIN's verified flag and the selected application, decoding the APDU independently
of the card's parser; for VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER it predicts the
exact status word too (card-profile.md rules; the order of checks follows the card's handlers
where the profile is silent, as in test_card_pin_model.py).

The inputs: a corpus of valid APDUs of every command in card-profile.md (built against the
card's current PIN, PUK and keys so success paths are reached), mutations of them, random byte
strings of 0-300 bytes, a scripted admin-key authentication (so PUT DATA and GENERATE sometimes
succeed), command chains (CLA 10), GET RESPONSE after `61 xx`, and power-up / reset / power-down.
`random.Random(seed)` with fixed seeds: a failure is reproducible from its seed.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import random
from datetime import date

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from simulator.card.card import VirtualCard
from simulator.card.factory import blank_card_state
from simulator.card.objects import certificate_object, chuid_object, printed_information_object
from simulator.card.state import CardState
from simulator.iso7816.sw import SW, is_valid_sw
from simulator.piv.constants import CARD_MANAGER_AID, PIV_AID, Alg, KeyRef, pad_pin
from tests.cards import clone as _clone
from tests.pin_model import PinModel, decode

pytestmark = pytest.mark.slow

APDUS_PER_RUN = 100_000
RUNS = [(10, 0xC0FFEE), (9, 20240229)]  # (card series, seed): series 9 signs with RSA-2048
ENDGAME = 0.85  # after 85% of a run, the PUK is no longer protected: the card gets terminated
MAX_RSA_GENERATIONS = 2  # RSA key generation costs ~0.1-1 s: allow a couple per run

PIN_LIMIT = 3
PUK_LIMIT = 5
INITIAL_PIN = "123456"
INITIAL_PUK = "12345678"
PIN_POOL = [pad_pin(p) for p in ("123456", "654321", "0000000", "13572468", "999999")]
PUK_POOL = [b"12345678", b"87654321", b"\x00" * 8, b"PUKPUK00"]
MALFORMED_PINS = [b"12345\xff\xff\xff", b"12a456\xff\xff", b"123456\x00\x00", b"1234567",
                  b"123456\xff\xff\xff", b"\xff" * 8, b"12\xff3456\xff", b"        "]  # fmt: skip

CLA_VALUES = [0x00, 0x10, 0x0C, 0x1C, 0x80, 0x84, 0xFF, 0x01, 0x20, 0x40, 0xE0]
INS_VALUES = [0xA4, 0xCB, 0x20, 0x24, 0x2C, 0x87, 0xDB, 0x47, 0xC0, 0xFD, 0x00, 0xB0, 0xFF]
INTERESTING = [0x00, 0x01, 0x04, 0x0C, 0x3F, 0x7E, 0x7F, 0x80, 0x81, 0x9A, 0x9B, 0x9C, 0x9D,
               0x9E, 0xFE, 0xFF]  # fmt: skip
OBJECTS = [b"\x7e", *(bytes.fromhex(f"5FC1{n:02X}") for n in (1, 2, 5, 7, 9, 0x0A, 0x0B, 0x0C))]
UNKNOWN_AID = bytes.fromhex("A000000063504B43532D3135")
SIGNING_SLOTS = [KeyRef.AUTHENTICATION, KeyRef.SIGNATURE, KeyRef.CARD_AUTHENTICATION,
                 KeyRef.KEY_MANAGEMENT]  # fmt: skip


# -- the card under test ----------------------------------------------------------------------


@functools.cache
def _base_state(series: int) -> CardState:
    state = blank_card_state(series, INITIAL_PIN, INITIAL_PUK, puk_tries=PUK_LIMIT)
    filler = random.Random(series)
    expiry = date(2030, 1, 31)
    # Certificates are opaque to the card: random "DER" longer than 256 bytes gives 61 xx.
    for tag, size in ((0x5FC105, 900), (0x5FC101, 600), (0x5FC10A, 300)):
        state.objects[tag] = certificate_object(b"\x30\x82" + filler.randbytes(size))
    state.objects[0x5FC102] = chuid_object(state.guid, expiry, filler.randbytes(256))
    state.objects[0x5FC109] = printed_information_object(
        "Test User", "555012345678", expiry, state.serial
    )
    return state


@functools.cache
def _peer_point() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


# -- APDU encoding and an independent decoder (ISO/IEC 7816-4 §5.1) ----------------------------


def _apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    out = bytes((cla, ins, p1, p2))
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        out += bytes((le % 256,))
    return out


def _extended(cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
    out = bytes((cla, ins, p1, p2, 0))
    if data:
        out += len(data).to_bytes(2, "big") + data
    if le is not None:
        out += (le % 65536).to_bytes(2, "big")
    return out


def _tlv(tag: bytes, value: bytes) -> bytes:
    size = len(value)
    length = bytes((size,)) if size < 0x80 else bytes((0x81, size)) if size < 0x100 else (
        b"\x82" + size.to_bytes(2, "big"))  # fmt: skip
    return tag + length + value


# -- the input generator ----------------------------------------------------------------------


class Generator:
    """Valid APDUs of every profile command, built against the card's current secrets."""

    def __init__(self, rng: random.Random, card: VirtualCard, shadow: PinModel) -> None:
        self.rng = rng
        self.card = card
        self.shadow = shadow
        self.last_remaining: int | None = None  # xx of the last 61 xx
        self.protect_puk = True
        self.templates = [
            (self.select, 8),
            (self.get_data, 12),
            (self.verify, 14),
            (self.change_reference_data, 5),
            (self.reset_retry_counter, 5),
            (self.sign, 6),
            (self.admin_step, 4),
            (self.put_data, 3),
            (self.generate, 1),
            (self.get_response, 4),
            (self.get_version, 2),
        ]
        self.funcs = [f for f, _ in self.templates]
        self.weights = [w for _, w in self.templates]

    def valid(self) -> list[bytes]:
        """One command, or a short sequence (VERIFY then sign, the blocks of a chain)."""
        return self.rng.choices(self.funcs, self.weights)[0]()

    def pin_field(self) -> bytes:
        r = self.rng.random()
        if r < 0.45:
            return self.shadow.pin
        if r < 0.8:
            return self.rng.choice(PIN_POOL)
        return self.rng.choice(MALFORMED_PINS)

    def puk_field(self) -> bytes:
        if not self.protect_puk:  # the endgame: let the PUK be blocked
            return self.rng.choice(PUK_POOL)
        # Prefer the right PUK when the PUK is nearly blocked: keeps the card alive for longer.
        right = 0.97 if self.shadow.puk_tries <= 2 else 0.6
        return self.shadow.puk if self.rng.random() < right else self.rng.choice(PUK_POOL)

    def select(self) -> list[bytes]:
        rng = self.rng
        aid = rng.choice(
            [PIV_AID, PIV_AID[:5], PIV_AID[:9], PIV_AID, PIV_AID[:5], PIV_AID[:9],
             CARD_MANAGER_AID, CARD_MANAGER_AID[:5], UNKNOWN_AID, PIV_AID[:4], PIV_AID + b"\x00"]
        )  # fmt: skip
        return [_apdu(0, 0xA4, 0x04, rng.choice((0x00, 0x0C)), aid, rng.choice((None, 0)))]

    def get_data(self) -> list[bytes]:
        data = _tlv(b"\x5c", self.rng.choice(OBJECTS))
        return [_apdu(0, 0xCB, 0x3F, 0xFF, data, self.rng.choice((0, 0, None, 0x40)))]

    def verify(self) -> list[bytes]:
        r = self.rng.random()
        if r < 0.6:
            return [_apdu(0, 0x20, 0x00, 0x80, self.pin_field())]
        if r < 0.75:
            return [_apdu(0, 0x20, 0x00, 0x80)]
        if r < 0.9:
            return [_apdu(0, 0x20, 0x00, 0x80, le=0)]  # "Lc = 00"
        return [_apdu(0, 0x20, 0xFF, 0x80)]

    def change_reference_data(self) -> list[bytes]:
        if self.rng.random() < 0.7:
            data = self.pin_field() + self.rng.choice(PIN_POOL)
            return [_apdu(0, 0x24, 0x00, 0x80, data)]
        data = self.puk_field() + self.rng.choice(PUK_POOL)
        return [_apdu(0, 0x24, 0x00, 0x81, data)]

    def reset_retry_counter(self) -> list[bytes]:
        new_pin = self.rng.choice(PIN_POOL) if self.rng.random() < 0.9 else MALFORMED_PINS[0]
        return [_apdu(0, 0x2C, 0x00, 0x80, self.puk_field() + new_pin)]

    def sign_input(self, slot: KeyRef) -> tuple[int, bytes]:
        key = self.card.state.keys[slot]
        size = key.input_length
        if not key.is_rsa:
            return key.algorithm, self.rng.randbytes(size)
        digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
        if self.rng.random() < 0.9:  # PKCS#1 v1.5 block over a SHA-256 digest
            body = digest_info + self.rng.randbytes(32)
            block = b"\x00\x01" + b"\xff" * (size - len(body) - 3) + b"\x00" + body
        else:  # raw RSA, smaller than the modulus (slow: pure-Python CRT, keep it rare)
            block = b"\x00" + self.rng.randbytes(size - 1)
        return key.algorithm, block

    def sign(self) -> list[bytes]:
        rng = self.rng
        slot = rng.choice(SIGNING_SLOTS)
        key = self.card.state.keys[slot]
        alg, block = self.sign_input(slot)
        if slot == KeyRef.KEY_MANAGEMENT and not key.is_rsa and rng.random() < 0.7:
            inner = _tlv(b"\x82", b"") + _tlv(b"\x85", _peer_point())
        else:
            inner = _tlv(b"\x82", b"") + _tlv(b"\x81", block)
        data = _tlv(b"\x7c", inner)
        out: list[bytes] = []
        if slot != KeyRef.CARD_AUTHENTICATION and rng.random() < 0.6:
            out.append(_apdu(0, 0x20, 0x00, 0x80, self.shadow.pin))
        if rng.random() < 0.3:  # command chaining in blocks of 100 bytes
            blocks = [data[i : i + 100] for i in range(0, len(data), 100)]
            for block_ in blocks[:-1]:
                out.append(_apdu(0x10, 0x87, alg, slot, block_))
            out.append(_apdu(0, 0x87, alg, slot, blocks[-1], 0))
        elif len(data) > 255:
            out.append(_extended(0, 0x87, alg, slot, data, 0))
        else:
            out.append(_apdu(0, 0x87, alg, slot, data, rng.choice((0, None))))
        return out

    def admin_step(self) -> list[bytes]:
        rng = self.rng
        alg = self.card.state.admin_algorithm
        block = 8 if alg == Alg.TDES else 16
        inner = rng.choice(
            [
                _tlv(b"\x81", b""),
                _tlv(b"\x80", b""),
                _tlv(b"\x82", rng.randbytes(block)),
                _tlv(b"\x80", rng.randbytes(block)) + _tlv(b"\x81", rng.randbytes(block)),
            ]
        )
        if rng.random() < 0.4:  # the random-number form OpenSC uses
            return [_apdu(0, 0x87, 0x00, 0x9B, _tlv(b"\x7c", _tlv(b"\x81", b"")), 0)]
        return [_apdu(0, 0x87, alg, 0x9B, _tlv(b"\x7c", inner), 0)]

    def put_data(self) -> list[bytes]:
        rng = self.rng
        tag = rng.choice(OBJECTS)
        wrapper = b"\x7e" if tag == b"\x7e" else b"\x53"
        # Objects over 8 KB (6A 84) and chains over 16 KB (6A 84) are rare: ~40-70 blocks each.
        size = (
            rng.choice((0, 8, 40, 200, 400)) if rng.random() < 0.97 else rng.choice((9000, 17000))
        )
        content = rng.randbytes(size)
        data = _tlv(b"\x5c", tag) + _tlv(wrapper, content)
        if len(data) > 255 or rng.random() < 0.2:
            blocks = [data[i : i + 255] for i in range(0, len(data), 255)]
            out = [_apdu(0x10, 0xDB, 0x3F, 0xFF, b) for b in blocks[:-1]]
            return [*out, _apdu(0, 0xDB, 0x3F, 0xFF, blocks[-1])]
        return [_apdu(0, 0xDB, 0x3F, 0xFF, data)]

    def generate(self) -> list[bytes]:
        rng = self.rng
        alg = rng.choice((Alg.ECC_P256, Alg.ECC_P256, Alg.ECC_P384, Alg.RSA2048, 0x03))
        slot = rng.choice((0x9A, 0x9C, 0x9D, 0x9E, 0x9B))
        data = _tlv(b"\xac", _tlv(b"\x80", bytes((alg,))))
        return [_apdu(0, 0x47, 0x00, slot, data, rng.choice((0, None)))]

    def get_response(self) -> list[bytes]:
        le = self.last_remaining if self.last_remaining is not None else self.rng.randrange(256)
        return [_apdu(0, 0xC0, 0x00, 0x00, le=le)]

    def get_version(self) -> list[bytes]:
        return [_apdu(0, 0xFD, 0x00, 0x00, le=self.rng.choice((None, 0)))]

    # -- mutations ---------------------------------------------------------------------------

    def mutate(self, apdu: bytes) -> bytes:
        rng = self.rng
        out = bytearray(apdu)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            kind = rng.randrange(12)
            if kind == 0 and out:  # flip a bit
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
            elif kind == 1 and out:  # replace a byte
                out[rng.randrange(len(out))] = rng.randrange(256)
            elif kind == 2:  # truncate
                del out[rng.randrange(len(out) + 1) :]
            elif kind == 3:  # extend
                out += rng.randbytes(rng.choice((1, 1, 2, 5, 40)))
            elif kind == 4 and out:  # CLA
                out[0] = rng.choice((*CLA_VALUES, rng.randrange(256)))
            elif kind == 5 and len(out) > 1:  # INS
                out[1] = rng.choice((*INS_VALUES, rng.randrange(256)))
            elif kind in (6, 7) and len(out) > kind - 4:  # P1 / P2
                out[kind - 4] = rng.choice((*INTERESTING, rng.randrange(256)))
            elif kind == 8 and len(out) > 4:  # Lc or Le
                out[4] = rng.choice((0, 1, out[4] - 1 & 0xFF, out[4] + 1 & 0xFF, 0xFF))
            elif kind == 9:  # add, remove or change Le
                if rng.random() < 0.5 and len(out) > 4:
                    del out[-1]
                else:
                    out.append(rng.choice((0, 1, 0xFF, rng.randrange(256))))
            elif kind == 10:  # extended-length form of the same command
                decoded = decode(bytes(out))
                if decoded is not None:
                    cla, ins, p1, p2, data = decoded
                    le = rng.choice((None, 0, 1, 300, 65535))
                    out = bytearray(_extended(cla, ins, p1, p2, data, le))
            elif kind == 11 and len(out) > 5:  # delete or insert one byte inside
                i = rng.randrange(4, len(out))
                if rng.random() < 0.5:
                    del out[i]
                else:
                    out.insert(i, rng.randrange(256))
        return bytes(out)


# -- the run ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    sent: int = 0
    sws: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    internal_errors: list[bytes] = dataclasses.field(default_factory=list)
    rsa_generations: int = 0
    terminated_from: int | None = None


def _sw_class(sw: int) -> str:
    if sw & 0xFF00 == 0x6100:
        return "61xx"
    if sw & 0xFFF0 == 0x63C0:
        return "63Cx"
    return f"{sw:04X}"


def _generates_rsa(card: VirtualCard, raw: bytes) -> bool:
    decoded = decode(raw)
    if decoded is None or decoded[0] != 0x00 or decoded[1] != 0x47:
        return False
    data = decoded[4]
    rsa = b"\x80\x01" + bytes((Alg.RSA2048,)) in data or b"\x80\x01\x05" in data
    return rsa and card.piv.admin_authenticated


def _encrypt(alg: Alg, key: bytes, block: bytes) -> bytes:
    cipher = TripleDES(key) if alg == Alg.TDES else algorithms.AES(key)
    encryptor = Cipher(cipher, modes.ECB()).encryptor()  # noqa: S305 - one block, as PIV does
    return encryptor.update(block) + encryptor.finalize()


class Run:
    def __init__(self, series: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.card = VirtualCard(_clone(_base_state(series)), sleep=lambda _: None)
        self.shadow = PinModel(pad_pin(INITIAL_PIN), INITIAL_PUK.encode(), puk_limit=PUK_LIMIT)
        self.gen = Generator(self.rng, self.card, self.shadow)
        self.stats = Stats()

    def send(self, raw: bytes) -> bytes:
        card, shadow = self.card, self.shadow
        state = card.state
        before = (state.pin.salt, state.pin.digest, state.puk.salt, state.puk.digest)
        if not card.powered:  # the card powers itself up on a command
            shadow.verified, shadow.piv_selected = False, True
        assert card.piv.pin_verified == shadow.verified
        expected_sw = shadow.predict(raw)

        response = card.execute(raw)

        self.stats.sent += 1
        assert isinstance(response, bytes), raw.hex()
        assert len(response) >= 2, raw.hex()
        sw = int.from_bytes(response[-2:], "big")
        self.stats.sws[sw] += 1
        assert is_valid_sw(sw), f"{raw.hex()} -> {response.hex()}"
        if sw == SW.INTERNAL_ERROR:
            self.stats.internal_errors.append(raw)
        elif sw not in (SW.SUCCESS, SW.WARNING_SELECTED_FILE_DEACTIVATED) and sw >> 8 != 0x61:
            assert len(response) == 2, f"error {sw:04X} with data: {raw.hex()}"
        self.gen.last_remaining = sw & 0xFF if sw >> 8 == 0x61 else None
        if expected_sw is not None:
            assert sw == expected_sw, f"{raw.hex()}: card {sw:04X}, shadow {expected_sw:04X}"
        # The counters, the secrets, the verified flag and the selection follow the shadow.
        assert state.pin.tries_left == shadow.pin_tries, raw.hex()
        assert state.puk.tries_left == shadow.puk_tries, raw.hex()
        assert 0 <= state.pin.tries_left <= PIN_LIMIT
        assert 0 <= state.puk.tries_left <= PUK_LIMIT
        after = (state.pin.salt, state.pin.digest, state.puk.salt, state.puk.digest)
        if after[:2] != before[:2]:
            assert state.pin.matches(shadow.pin), f"PIN changed unexpectedly by {raw.hex()}"
        if after[2:] != before[2:]:
            assert state.puk.matches(shadow.puk), f"PUK changed unexpectedly by {raw.hex()}"
        if expected_sw == SW.SUCCESS and raw[1] in (0x24, 0x2C):
            assert state.pin.matches(shadow.pin) and state.puk.matches(shadow.puk), raw.hex()
        assert card.piv.pin_verified == shadow.verified, raw.hex()
        assert (card.selected == "piv") == shadow.piv_selected, raw.hex()
        if state.terminated and self.stats.terminated_from is None:
            self.stats.terminated_from = self.stats.sent
        return response

    def admin_authenticate(self) -> None:
        """External authentication with the admin key: challenge, then its encryption."""
        state = self.card.state
        alg = state.admin_algorithm
        request = _apdu(0, 0x87, alg, 0x9B, _tlv(b"\x7c", _tlv(b"\x81", b"")), 0)
        response = self.send(request)
        if response[-2:] != b"\x90\x00":
            return
        challenge = response[4:-2]  # 7C L 81 L <challenge>
        answer = _tlv(b"\x7c", _tlv(b"\x82", _encrypt(alg, state.admin_key, challenge)))
        self.send(_apdu(0, 0x87, alg, 0x9B, answer))

    def step(self) -> None:
        rng, card = self.rng, self.card
        self.gen.protect_puk = self.stats.sent < ENDGAME * APDUS_PER_RUN
        if self.gen.last_remaining is not None and rng.random() < 0.7:  # follow a 61 xx
            apdu = self.gen.get_response()[0]
            self.gen.last_remaining = None
            self.send(apdu if rng.random() < 0.8 else self.gen.mutate(apdu))
            return
        r = rng.random()
        if r < 0.003:
            rng.choice((card.power_up, card.reset, card.power_down))()
            self.shadow.verified, self.shadow.piv_selected = False, True
            return
        if r < 0.01:
            self.admin_authenticate()
            return
        if r < 0.11:  # random bytes of random length
            self.send(rng.randbytes(rng.randrange(301)))
            return
        commands = self.gen.valid()
        if r < 0.5:  # mutate one command of the sequence
            i = rng.randrange(len(commands))
            # ...but not a PUK's last try: a blocked PUK ends the card's useful life (62 83).
            if self.shadow.puk_tries > 1 or commands[i][1:4:2] not in (b"\x24\x81", b"\x2c\x80"):
                commands[i] = self.gen.mutate(commands[i])
        for raw in commands:
            if _generates_rsa(card, raw):
                if self.stats.rsa_generations >= MAX_RSA_GENERATIONS:
                    continue
                self.stats.rsa_generations += 1
            self.send(raw)


def _summary(stats: Stats) -> str:
    classes: collections.Counter[str] = collections.Counter()
    for sw, count in stats.sws.items():
        classes[_sw_class(sw)] += count
    return ", ".join(f"{name}: {count}" for name, count in classes.most_common())


@pytest.mark.parametrize(("series", "seed"), RUNS, ids=[f"series{s}-seed{x}" for s, x in RUNS])
def test_fuzz_card(series: int, seed: int) -> None:
    run = Run(series, seed)
    while run.stats.sent < APDUS_PER_RUN:
        run.step()
    stats = run.stats
    print(
        f"\nseries {series} seed {seed}: {stats.sent} APDUs; {_summary(stats)}; "
        f"RSA generations {stats.rsa_generations}; terminated from {stats.terminated_from}"
    )
    assert not stats.internal_errors, "6F 00 for: " + " ".join(
        raw.hex() for raw in stats.internal_errors[:10]
    )
    # The fuzzer reached the paths it is meant to reach.
    seen = {_sw_class(sw) for sw in stats.sws}
    for needed in ("9000", "61xx", "63Cx", "6700", "6983", "6A80", "6A82", "6A86", "6A88",
                   "6982", "6884", "6D00", "6E00", "6283", "6A84", "6986", "6882"):  # fmt: skip
        assert needed in seen, f"no {needed} in {sorted(seen)}"


# -- found while fuzzing ------------------------------------------------------------------------


@pytest.mark.parametrize("interruption", ["80CA0000", "0C20008000", "0000"])
def test_chain_interrupted_by_a_rejected_command_has_no_effect(interruption: str) -> None:
    card = VirtualCard(_clone(_base_state(10)), sleep=lambda _: None)
    data = _tlv(b"\x7c", _tlv(b"\x82", b"") + _tlv(b"\x81", bytes(range(32))))
    first, last = data[:10], data[10:]
    assert card.execute(_apdu(0x10, 0x87, Alg.ECC_P256, 0x9E, first)) == b"\x90\x00"
    assert card.execute(bytes.fromhex(interruption))[-2:] != b"\x90\x00"
    # The chain was interrupted: the last block alone is not a dynamic authentication template.
    response = card.execute(_apdu(0x00, 0x87, Alg.ECC_P256, 0x9E, last, 0))
    assert response == SW.INCORRECT_DATA.bytes, response.hex()
