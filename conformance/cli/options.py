"""Options shared by several `careid` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from simulator.datadir import DATA_DIR_ENV, default_data_dir

F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(function: F) -> F:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default_data_dir,
        show_default=f"${DATA_DIR_ENV} or ./.careid",
        help="Where card files, the test PKI and databases live.",
    )(function)


def personas_file_option(function: F) -> F:
    return click.option(
        "--personas-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="A personas TOML file to use instead of the packaged one.",
    )(function)
