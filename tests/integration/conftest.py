"""Session fixtures for the real PC/SC stack: pcscd + vpcd slots + card runners.

The session brings up its own pcscd (or uses a running one that has vpcd readers) and tears
down by PID whatever it started, even when tests fail. Cards are issued into the session's
data directory; every test leaves the slots empty.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulator.reader import pcscd
from simulator.reader.control import ReaderControl
from simulator.reader.errors import NotInstalledError
from tests.integration._stack import ReaderStack


@pytest.fixture(scope="session")
def reader_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReaderStack]:
    try:
        pcscd.check_installed()
    except NotInstalledError as exc:
        pytest.skip(str(exc))
    data_dir = tmp_path_factory.mktemp("careid-reader")
    layout = pcscd.start_pcscd(data_dir)
    stack = ReaderStack(data_dir, layout, ReaderControl(data_dir, layout))
    try:
        yield stack
    finally:
        stack.control.remove_all()
        pcscd.stop_pcscd(data_dir)  # only stops a pcscd this session started


@pytest.fixture
def stack(reader_stack: ReaderStack) -> Iterator[ReaderStack]:
    """The session's stack, with every slot emptied after the test."""
    yield reader_stack
    reader_stack.control.remove_all()


@pytest.fixture(scope="session")
def issue(reader_stack: ReaderStack) -> Callable[..., Path]:
    """Issue a fresh card file for a persona (the session shares one test PKI)."""
    from simulator.card.issue import issue_card

    def _issue(persona: str = "alice", **kwargs: str) -> Path:
        return issue_card(persona, data_dir=reader_stack.data_dir, **kwargs)

    return _issue


@pytest.fixture
def opensc_env(tmp_path: Path) -> dict[str, str]:
    """Environment for OpenSC tools: a private HOME so its file cache starts empty."""
    for tool in ("opensc-tool", "pkcs11-tool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: sudo apt-get install -y opensc")
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)
    env.pop("OPENSC_CONF", None)
    return env
