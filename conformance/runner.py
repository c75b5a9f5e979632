"""Run a careid suite in a subprocess, so the caller's process (a CLI) stays clean.

    from conformance.runner import run_suite
    code = run_suite("card", run_dir=Path("reports/20261121-014830-card"))

Path-valued options are passed as `--opt=VALUE`: pytest looks for its rootdir among the
command-line words before plugins register their options, so a separate existing path after
`--careid-run-dir` would be taken for a test path.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

SUITES = ("card", "agent", "oidc", "journeys")
ALL = "all"  # every suite in one pytest session: one results file, one report


def suite_packages(suite: str) -> list[str]:
    """The packages pytest collects for `suite` (a name of SUITES, or "all")."""
    names = SUITES if suite == ALL else (suite,)
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite {unknown[0]!r}: one of {', '.join([*SUITES, ALL])}")
    return [f"conformance.{name}" for name in names]


def suite_command(
    suite: str = "card",
    *,
    run_dir: Path,
    reader: str | None = None,
    in_process: bool = False,
    persona: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The pytest command line `run_suite` runs (also useful to show the user)."""
    run_dir = Path(run_dir).resolve()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        *suite_packages(suite),
        f"--careid-run-dir={run_dir}",
        f"--junitxml={run_dir / 'junit.xml'}",
        "-p",
        "no:cacheprovider",
    ]
    if reader is not None:
        command.append(f"--careid-reader={reader}")
    if in_process:
        command.append("--careid-in-process")
    if persona is not None:
        command.append(f"--careid-persona={persona}")
    command.extend(extra_args)
    return command


def run_suite(
    suite: str = "card",
    *,
    run_dir: Path,
    reader: str | None = None,
    in_process: bool = False,
    persona: str | None = None,
    extra_args: Sequence[str] = (),
) -> int:
    """Run the suite against the given target; pytest's exit code (0: all passed, self-check
    ok). Output goes to this process's stdout and stderr; results land in `run_dir`."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    command = suite_command(
        suite,
        run_dir=run_dir,
        reader=reader,
        in_process=in_process,
        persona=persona,
        extra_args=extra_args,
    )
    return subprocess.run(command, check=False).returncode  # noqa: S603 - our own argv
