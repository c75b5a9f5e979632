"""Headless PINs (automation only): a TOML file that maps card UUIDs to PINs.

    [pins]
    "555000000101" = "314159"

Only the command line that starts the agent can name the file (`careid agent up
--headless-pins FILE`); nothing over HTTP turns it on or off. Errors name the file and the
entry, never the PIN.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from simulator.secret import Secret

_PIN = re.compile(r"[0-9]{6,8}")


class HeadlessPinsError(Exception):
    """The PINs file cannot be used."""


def load_headless_pins(path: Path) -> dict[str, Secret]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise HeadlessPinsError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise HeadlessPinsError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("pins")
    if not isinstance(table, dict):
        raise HeadlessPinsError(f"{path}: needs a [pins] table of card UUID = PIN")
    pins: dict[str, Secret] = {}
    for uuid, pin in table.items():
        if not isinstance(pin, str) or not _PIN.fullmatch(pin):
            raise HeadlessPinsError(f"{path}: the PIN of {uuid} is not 6 to 8 digits (as a string)")
        pins[str(uuid)] = Secret(pin)
    return pins
