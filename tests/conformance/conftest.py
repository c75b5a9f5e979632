"""Fixtures for testing the careid pytest plugin with pytester."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def careid_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory (one test PKI) for every inner run of the session."""
    return tmp_path_factory.mktemp("careid-data")


@pytest.fixture
def inner(
    pytester: pytest.Pytester, careid_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A pytester whose inner runs issue virtual cards from the shared data directory."""
    monkeypatch.setenv("CAREID_DATA_DIR", str(careid_data_dir))
    return pytester
