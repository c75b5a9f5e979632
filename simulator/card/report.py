"""The card profile report: what `careid card show` prints. It never contains a PIN or PUK."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from simulator.card.profile import profile_for_series
from simulator.card.state import CardState
from simulator.iso7816.tlv import find, iter_tlv
from simulator.piv.constants import CERT_OBJECT_FOR_KEY, KeyRef


@dataclass(frozen=True)
class CertificateSummary:
    slot: str
    subject: str
    issuer: str
    not_before: str
    not_after: str
    uuid: str | None


@dataclass(frozen=True)
class CardReport:
    persona: str | None
    series: int
    label: str
    atr: str
    serial: str
    guid: str
    uuid: str | None
    pin_tries_left: int
    pin_tries_limit: int
    puk_tries_left: int
    puk_tries_limit: int
    faults: list[str]
    certificates: list[CertificateSummary]

    def lines(self) -> list[str]:
        rows = [
            ("Persona", self.persona or "-"),
            ("Series", f"{self.series} ({self.label})"),
            ("ATR", self.atr),
            ("Card serial", self.serial),
            ("CHUID GUID", self.guid),
            ("Care Identity UUID", self.uuid or "-"),
            ("PIN tries left", f"{self.pin_tries_left} of {self.pin_tries_limit}"),
            ("PUK tries left", f"{self.puk_tries_left} of {self.puk_tries_limit}"),
            ("Fault modes", ", ".join(self.faults) or "none"),
        ]
        out = [f"{label:<20}{value}" for label, value in rows]
        for cert in self.certificates:
            out.append(f"Certificate {cert.slot}")
            out.append(f"  subject           {cert.subject}")
            out.append(f"  issuer            {cert.issuer}")
            out.append(f"  valid             {cert.not_before} to {cert.not_after}")
        return out


def certificate_in(state: CardState, slot: KeyRef) -> x509.Certificate | None:
    """The certificate the card holds for a key, parsed from its certificate object."""
    content = state.objects.get(CERT_OBJECT_FOR_KEY[slot])
    if content is None:
        return None
    der = find(iter_tlv(content), 0x70)
    return None if der is None else x509.load_der_x509_certificate(der)


def card_report(state: CardState) -> CardReport:
    profile = profile_for_series(state.series)
    summaries = []
    for slot in CERT_OBJECT_FOR_KEY:
        cert = certificate_in(state, slot)
        if cert is None:
            continue
        serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        summaries.append(
            CertificateSummary(
                slot=f"{slot.value:02X} ({slot.name.replace('_', ' ').lower()})",
                subject=cert.subject.rfc4514_string(),
                issuer=cert.issuer.rfc4514_string(),
                not_before=cert.not_valid_before_utc.isoformat(),
                not_after=cert.not_valid_after_utc.isoformat(),
                uuid=str(serials[0].value) if serials else None,
            )
        )
    guid = state.guid.hex().upper()
    return CardReport(
        persona=state.persona,
        series=state.series,
        label=profile.label,
        atr=profile.atr.hex(" ").upper(),
        serial=state.serial,
        guid=f"{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:]}",
        uuid=state.uuid,
        pin_tries_left=state.pin.tries_left,
        pin_tries_limit=state.pin.limit,
        puk_tries_left=state.puk.tries_left,
        puk_tries_limit=state.puk.limit,
        faults=sorted(state.faults),
        certificates=summaries,
    )
