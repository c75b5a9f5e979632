"""Reader names: how careid's vpcd readers are called and how a virtual reader is told apart."""

from __future__ import annotations

FRIENDLY_NAME = "CareID Virtual Reader"
# careid's own vpcd readers, and Debian's stock vpcd entry ("Virtual PCD 00 00").
VIRTUAL_READER_PREFIXES = (FRIENDLY_NAME, "Virtual PCD")


def is_virtual_reader(reader: str) -> bool:
    """True for a vpcd slot; anything else is treated as a physical reader."""
    return reader.startswith(VIRTUAL_READER_PREFIXES)
