"""Fixtures of the OIDC provider suite, on top of the careid plugin (catalog, reports, run dir).

With no `--careid-issuer` the suite starts the reference provider itself (target.py); with
one, it uses the clients and login driver the options describe. CIS2-* requirements run only
when the provider is CIS2-style (`--careid-oidc-profile`, default: by the issuer path).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.oidc.rp import RelyingParty
from conformance.oidc.target import (
    ProviderUnderTest,
    SetupError,
    foreign_provider,
    profile_for,
    reference_provider,
)
from conformance.plugin import RUN_KEY

SUITE_DIR = Path(__file__).resolve().parent


def _in_suite(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve().parent == SUITE_DIR


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    issuer = config.getoption("careid_issuer")
    choice = config.getoption("careid_oidc_profile")
    config_file = config.getoption("careid_oidc_config")
    if issuer and choice == "auto" and config_file:
        import tomllib  # noqa: PLC0415

        try:
            choice = tomllib.loads(Path(config_file).read_text()).get("profile") or "auto"
        except (OSError, tomllib.TOMLDecodeError):
            choice = "auto"
    profile = profile_for(issuer, choice) if issuer else "cis2"
    if profile == "cis2":
        return
    for item in items:
        if not _in_suite(item):
            continue
        ids = [str(a) for m in item.iter_markers("requirement") for a in m.args]
        if ids and all(rid.startswith("CIS2-") for rid in ids):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"{', '.join(ids)}: CIS2-specific, and {issuer} is not a CIS2-style "
                    "provider (--careid-oidc-profile cis2 runs them)"
                )
            )


@pytest.fixture(scope="session")
def provider(request: pytest.FixtureRequest) -> Iterator[ProviderUnderTest]:
    config = request.config
    run = config.stash[RUN_KEY]
    issuer: str | None = config.getoption("careid_issuer")
    data_dir: Path | None = config.getoption("careid_data_dir")
    workdir = Path(tempfile.mkdtemp(prefix="careid-oidc-suite-"))
    target: ProviderUnderTest | None = None
    try:
        if issuer:
            try:
                target = foreign_provider(
                    issuer,
                    config_file=config.getoption("careid_oidc_config"),
                    client_id=config.getoption("careid_oidc_client_id"),
                    client_secret=config.getoption("careid_oidc_client_secret"),
                    redirect_uri=config.getoption("careid_oidc_redirect_uri"),
                    driver_spec=config.getoption("careid_oidc_login_driver"),
                    profile=config.getoption("careid_oidc_profile"),
                    ca_bundle=config.getoption("careid_ca_bundle"),
                    data_dir=data_dir,
                    workdir=workdir,
                )
            except SetupError as exc:
                raise pytest.UsageError(str(exc)) from None
        else:
            target = reference_provider(data_dir=data_dir, workdir=workdir)
        run.target.description.update(
            kind="virtual" if target.reference else "physical",
            reader=None,
            persona=target.user,
            issuer=target.issuer,
            provider="reference provider (reference_service.cis2), started by the suite"
            if target.reference
            else "provider named by --careid-issuer",
            profile=target.profile,
        )
        yield target
    finally:
        if target is not None:
            target.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def discovery(provider: ProviderUnderTest) -> dict[str, Any]:
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    with provider.http() as http:
        answer = http.get(url)
    assert answer.status_code == 200, f"{url}: {answer.status_code}"
    document: dict[str, Any] = answer.json()
    return document


@pytest.fixture(scope="session")
def rp(provider: ProviderUnderTest, discovery: dict[str, Any]) -> RelyingParty:
    return RelyingParty(provider, discovery)


@pytest.fixture
def client_of(provider: ProviderUnderTest) -> Any:
    """`client_of("jwt")`: a registered client of that role, or a skip with the reason."""

    def get(role: str) -> Any:
        client = provider.clients.get(role)
        if client is None:
            pytest.skip(f"no {role} client is registered for the suite at {provider.issuer}")
        return client

    return get
