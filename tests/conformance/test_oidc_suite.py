"""The OIDC provider suite end to end against the reference provider (started by the suite)."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.catalog import default_catalog
from conformance.report.build import build_report
from conformance.report.model import load_results
from conformance.runner import run_suite


def test_oidc_suite_passes_against_the_reference_provider(
    tmp_path: Path, careid_data_dir: Path
) -> None:
    run_dir = tmp_path / "run"
    code = run_suite(
        "oidc", run_dir=run_dir, extra_args=[f"--careid-data-dir={careid_data_dir}", "-q"]
    )
    results = json.loads((run_dir / "results.json").read_text())
    assert results["suite"] == "oidc"
    assert results["self_check"] == {"ok": True, "problems": []}
    assert results["target"]["profile"] == "cis2"
    assert results["target"]["issuer"].endswith(
        "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
    )
    bad = [
        (t["nodeid"], t["outcome"], t["actual"])
        for t in results["tests"]
        if t["outcome"] != "passed"
    ]
    assert not bad, bad
    catalog_ids = {r.id for r in default_catalog().for_suite("oidc")}
    assert {r["id"] for r in results["requirements"]} == catalog_ids
    assert {rid for t in results["tests"] for rid in t["requirements"]} == catalog_ids
    assert code == 0
    assert (run_dir / "junit.xml").exists()
    html = build_report(run_dir)
    assert html.exists() and "OIDC-DISC-002" in html.read_text()
    assert load_results(run_dir).suite == "oidc"
