"""The locustfile of the load suites: `careid load` runs `locust -f` on this file.

The user classes come from `loadtests.users`; pick some by name on Locust's command line
(`SmartcardSignIn`, `TotpSignIn`, `NhsmailSignIn`, `Linking`, `PasswordMfaSignIn`, and
`VpcdSignIn` for real vpcd slots), or several for the weighted mix.
"""

from loadtests.users import (
    Linking,
    NhsmailSignIn,
    PasswordMfaSignIn,
    SmartcardSignIn,
    TotpSignIn,
)
from loadtests.vpcd import VpcdSignIn

__all__ = [
    "Linking",
    "NhsmailSignIn",
    "PasswordMfaSignIn",
    "SmartcardSignIn",
    "TotpSignIn",
    "VpcdSignIn",
]
