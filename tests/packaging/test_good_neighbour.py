"""Installed into someone else's project, the harness must not break that project's pytest.

A throwaway project with packages of its own named `conformance` and `simulator` gets the
harness's wheel installed beside it: its own tests still run (the pytest entry point imports
no harness module), the careid options are there, and `careid --help` works.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCES = (
    ".git",
    ".venv",
    ".careid",
    "reports",
    "build",
    "*.egg-info",
    "*_cache",
    "node_modules",
)

PROJECT = {
    "conformance/__init__.py": "NAME = 'vendor conformance'\n",
    "simulator/__init__.py": "NAME = 'vendor simulator'\n",
    "tests/test_own.py": (
        "import conformance, simulator\n\n"
        "def test_own_packages():\n"
        "    assert conformance.NAME == 'vendor conformance'\n"
        "    assert simulator.NAME == 'vendor simulator'\n"
    ),
    "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\npythonpath = ['.']\n",
}


def _run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    return subprocess.run(  # noqa: S603 - fixed argv
        [str(a) for a in argv],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def neighbour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the project's directory, the python of an environment holding the harness's wheel)."""
    work = tmp_path_factory.mktemp("neighbour")
    source = work / "source"  # a copy: building writes build/ and egg-info beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work, source, cwd=work
    )
    if built.returncode != 0:
        pytest.fail(f"the wheel did not build: {built.stderr[-2000:]}")
    wheel = next(work.glob("careid_harness-*.whl"))
    env_dir = work / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run(python, "-m", "pip", "install", "--no-deps", "-q", wheel, cwd=work)
    assert installed.returncode == 0, installed.stderr
    # The harness's dependencies come from this environment, after the wheel on the path.
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work)
    (Path(purelib.stdout.strip()) / "harness-deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    project = work / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project, python


def test_the_projects_own_tests_still_run(neighbour: tuple[Path, Path]) -> None:
    project, python = neighbour
    result = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    assert not (project / "reports").exists()


def test_careid_options_and_command_are_there(neighbour: tuple[Path, Path]) -> None:
    project, python = neighbour
    helped = _run(python, "-m", "pytest", "--help", cwd=project)
    assert "--careid-reader" in helped.stdout, helped.stderr[-2000:]
    careid = _run(python.parent / "careid", "--help", cwd=project)
    assert careid.returncode == 0, careid.stderr[-2000:]
    assert "conform" in careid.stdout
