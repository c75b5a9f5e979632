"""The test PKI: root and issuing CAs, card and server certificates, and the CRL.

Test-only: CA keys are stored unencrypted. See `simulator.pki.authority` for the layout.
"""

from simulator.pki.authority import (
    CONTENT_SIGNER_NAME,
    DEFAULT_SERVER_HOSTS,
    ISSUING_CA_NAME,
    ROOT_CA_NAME,
    UNTRUSTED_ISSUING_CA_NAME,
    UNTRUSTED_ROOT_CA_NAME,
    TestPKI,
)
from simulator.pki.certificates import (
    CARD_USAGES,
    CERT_STATES,
    CRL_DISTRIBUTION_POINT,
    PIV_CARD_AUTH,
    PIV_CONTENT_SIGNING,
    SMARTCARD_LOGON,
    CardCertificateRequest,
    CardPublicKey,
    CardUsage,
    CertState,
)
from simulator.pki.crl import RevocationListError

__all__ = [
    "CARD_USAGES",
    "CERT_STATES",
    "CONTENT_SIGNER_NAME",
    "CRL_DISTRIBUTION_POINT",
    "DEFAULT_SERVER_HOSTS",
    "ISSUING_CA_NAME",
    "PIV_CARD_AUTH",
    "PIV_CONTENT_SIGNING",
    "ROOT_CA_NAME",
    "SMARTCARD_LOGON",
    "UNTRUSTED_ISSUING_CA_NAME",
    "UNTRUSTED_ROOT_CA_NAME",
    "CardCertificateRequest",
    "CardPublicKey",
    "CardUsage",
    "CertState",
    "RevocationListError",
    "TestPKI",
]
