"""Personas: named test users with a Care Identity, an NHSmail account and a smartcard.

The packaged `personas.toml` covers the happy path and one persona per failure the suites
exercise; a different file can be passed to `load_personas`.
"""

from simulator.personas.errors import PersonaFileError, PersonaProblem, UnknownPersonaError
from simulator.personas.loader import DEFAULT_PERSONAS_PATH, get_persona, load_personas
from simulator.personas.models import (
    AccountStatus,
    CardSpec,
    CareIdentity,
    FaultMode,
    NhsMailAccount,
    Organisation,
    Persona,
    Role,
    password_problem,
)

__all__ = [
    "DEFAULT_PERSONAS_PATH",
    "AccountStatus",
    "CardSpec",
    "CareIdentity",
    "FaultMode",
    "NhsMailAccount",
    "Organisation",
    "Persona",
    "PersonaFileError",
    "PersonaProblem",
    "Role",
    "UnknownPersonaError",
    "get_persona",
    "load_personas",
    "password_problem",
]
