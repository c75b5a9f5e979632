"""careid-harness's pytest entry point: options and markers only, the harness on demand.

pytest loads this module in every run of every project where careid-harness is installed, so
it imports nothing of the harness: a project with packages of its own named `conformance`
or `simulator` must keep working. The harness's plugin (`conformance.plugin`) is imported
and registered only when a careid option is given or a careid suite is named on the command
line (`pytest --pyargs conformance.card`, or a path inside the installed suites).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The harness's packages sit beside this module (installed or in a checkout).
SUITES_DIR = Path(__file__).resolve().parent / "conformance"
SUITES = ("card", "agent", "oidc", "journeys")
PATH_OPTIONS = ("--careid-run-dir", "--careid-waivers", "--careid-ca-bundle", "--careid-crl")
# Options later suites use: accepted by every suite so one command line names every target.
TARGET_URL_OPTIONS = {
    "--careid-issuer": "URL of the sign-in service (OpenID provider) under test",
    "--careid-agent": "URL of the Identity Agent under test",
    "--careid-portal": "URL of the NHSmail portal under test",
    "--careid-myidentity": "URL of My Identity Portal under test",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("careid", "careid-harness conformance suites")
    add = group.addoption
    add(
        "--careid-reader",
        metavar="NAME",
        help="run against the card in this PC/SC reader (a physical card, or a card someone "
        "inserted into a vpcd slot): read-only unless --careid-destructive",
    )
    add(
        "--careid-in-process",
        action="store_true",
        help="run against a fresh virtual card per test in this process (no PC/SC)",
    )
    add(
        "--careid-transport",
        metavar="MODULE:CALLABLE",
        help="a callable returning a Transport (exchange/atr/close): a card reached without "
        "PC/SC, treated like a physical card",
    )
    add(
        "--careid-persona",
        metavar="NAME",
        help="virtual targets: issue the card for this persona (default alice)",
    )
    add(
        "--careid-fault",
        metavar="MODE",
        help="virtual targets: issue the card in this fault mode (suite self-check); "
        "docs/card.md lists them (Fault modes)",
    )
    add(
        "--careid-destructive",
        action="store_true",
        help="physical card: allow tests that spend PIN tries or change the PIN/PUK (they "
        "restore it); needs --careid-pin and --careid-puk",
    )
    add("--careid-pin", metavar="PIN", help="physical card: its PIN")
    add("--careid-puk", metavar="PUK", help="physical card: its PUK")
    add(
        "--careid-ca-bundle",
        metavar="FILE",
        type=Path,
        help="PEM of the CAs the card's certificates must chain to (physical cards; virtual "
        "targets use the test PKI's bundle)",
    )
    add(
        "--careid-crl", metavar="FILE", type=Path, help="a CRL the certificates are checked against"
    )
    add(
        "--careid-data-dir",
        metavar="DIR",
        type=Path,
        help="virtual targets: data directory with the test PKI (default $CAREID_DATA_DIR "
        "or ./.careid)",
    )
    add(
        "--careid-waivers",
        metavar="FILE",
        type=Path,
        help="TOML file of expected failures: [[waiver]] test = ID or node id, justification",
    )
    add(
        "--careid-run-dir",
        metavar="DIR",
        type=Path,
        help="where results.json, junit.xml and transcripts go (default reports/<run-id>/)",
    )
    add(
        "--careid-catalog",
        metavar="FILE",
        type=Path,
        help="requirement catalog to check against (default: the packaged requirements.toml)",
    )
    for option, text in TARGET_URL_OPTIONS.items():
        add(option, metavar="URL", help=text)
    add(
        "--careid-agent-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="with --careid-agent: a sign-in origin the agent allows (https://127.0.0.1:PORT; "
        "the suite serves it); give it twice for the per-origin PIN tests",
    )
    for option, metavar, text in (
        ("--careid-oidc-client-id", "ID", "a code-flow client registered at the provider"),
        ("--careid-oidc-client-secret", "SECRET", "that client's secret (client_secret_post)"),
        ("--careid-oidc-redirect-uri", "URI", "that client's registered redirect_uri"),
        (
            "--careid-oidc-login-driver",
            "MODULE:CALLABLE",
            "signs the user in at the provider in the suite's headless client "
            "(default: the reference provider's virtual smartcard)",
        ),
        (
            "--careid-oidc-config",
            "FILE",
            "TOML describing more of the provider's setup (PKCE and private_key_jwt clients, "
            "back-channel receiver, login user); see docs/conformance.md",
        ),
    ):
        add(option, metavar=metavar, help=f"oidc suite: {text}")
    add(
        "--careid-oidc-profile",
        choices=("auto", "cis2", "generic"),
        default="auto",
        help="oidc suite: run the CIS2-* requirements (cis2) or skip them (generic); auto: "
        "cis2 when the issuer path is CIS2's",
    )


def suites_named(config: pytest.Config) -> list[str]:
    """careid suites named by the command line (`--pyargs conformance.card`, a path in it)."""
    suites = []
    for arg in config.args:
        name = str(arg).split("::", 1)[0]
        parts = name.split(".")
        if len(parts) >= 2 and parts[0] == "conformance" and parts[1] in SUITES:
            suites.append(parts[1])
            continue
        path = Path(name)
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        try:
            relative = path.resolve().relative_to(SUITES_DIR)
        except ValueError:
            continue
        if relative.parts and (SUITES_DIR / relative.parts[0]).is_dir():
            suites.append(relative.parts[0])
    return sorted(set(suites))


def _careid_options_given(config: pytest.Config) -> bool:
    given: list[Any] = []
    for dest in vars(config.option):
        if dest.startswith("careid_"):
            value = getattr(config.option, dest)
            given.append(value not in (None, False, [], "auto"))
    return any(given)


def active(config: pytest.Config) -> bool:
    """Does this run use the harness at all?"""
    return _careid_options_given(config) or bool(suites_named(config))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    # Before any plugin's pytest_configure, so the junitxml plugin sees the path set here.
    words = config.invocation_params.args
    for option in PATH_OPTIONS:
        if option in words:
            # pytest picks its rootdir among the command-line words before plugins add their
            # options, so an existing path given as a separate word can become the rootdir.
            print(
                f"careid: write {option}=PATH (with '='): pytest may take a separate path "
                "for its rootdir and lose the project's configuration",
                file=sys.stderr,
            )
    if active(config):
        from conformance import plugin  # noqa: PLC0415 - the harness only when it is used

        config.pluginmanager.register(plugin, "careid-harness")
        plugin.activate(config)


def pytest_configure(config: pytest.Config) -> None:
    # Declared in every run: the suites' modules carry these marks even when collected alone.
    config.addinivalue_line(
        "markers",
        "requirement(*ids, expected=None): the catalog requirements a careid test checks; "
        "`expected` is the one-line expected result shown in the report",
    )
    config.addinivalue_line(
        "markers", "destructive: changes card state (skipped on a read-only physical card)"
    )
    config.addinivalue_line(
        "markers", "virtual_only(reason): runs on virtual targets only (skipped on a physical card)"
    )
