"""The locustfile of the load suites: `careid load` runs `locust -f` on this file.

The user classes come from `loadtests.users`; pick some by name on Locust's command line
(`SmartcardSignIn`, `TotpSignIn`), or all of them for the weighted mix.
"""

from loadtests.users import SmartcardSignIn, TotpSignIn

__all__ = ["SmartcardSignIn", "TotpSignIn"]
