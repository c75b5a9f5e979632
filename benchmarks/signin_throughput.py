"""Full smartcard sign-ins per second at the reference stack, beside node-oidc-provider.

The reference stack (provider + NHSmail portal + My Identity Portal) and node-oidc-provider
run in their own processes on 127.0.0.1; the same client (the load suites' headless flows,
`loadtests.flows` / `loadtests.portal_flows`) runs THREADS concurrent users against each in
turn, A B C A B C, ROUND seconds per round:

* A: the reference provider alone, smartcard mechanism (RelyingParty + flow.sign_in, PKCE,
  token exchange, ID token verified), the agent core signing with a fresh pre-issued card;
* B: node-oidc-provider (npm `oidc-provider`, the dev login + consent forms), plain code flow
  with the same RelyingParty client;
* C: the whole stack: NHSmail portal "Log in with my Care Identity" → the provider with a
  linked persona's fresh card → the portal's callback (its own token request and ID token
  check) → the signed-in page.

Prints sign-ins/s, p50/p95 and errors of each, and the ratios A/B and C/B (medians of the
rounds). Machines here are shared and noisy: read the ratios, not the absolute figures.

    .venv/bin/python benchmarks/signin_throughput.py [--round 10] [--rounds 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.oidc.drivers import DriverContext, dev_interactions
from conformance.oidc.target import free_port
from loadtests.accounts import signed_in_personas
from loadtests.flows import CardSupply, SignInFlow, smartcard_flow
from loadtests.pool import Pool, ensure_pool
from loadtests.portal_flows import NhsmailSignInFlow
from loadtests.target import ReferenceStack, RunConfig, start_reference, wait_for
from simulator.pki import TestPKI
from tests.integration.test_oidc_node_provider import INSTALL_DIR, PROVIDER_SCRIPT


def _quiet(*_: Any) -> None:
    return None


def start_node(data_dir: Path, work: Path) -> tuple[subprocess.Popen[bytes], RunConfig]:
    if not (INSTALL_DIR / "node_modules" / "oidc-provider").exists():
        raise SystemExit(
            f"run tests/integration/test_oidc_node_provider.py once (npm → {INSTALL_DIR})"
        )
    from joserfc.jwk import RSAKey  # noqa: PLC0415

    pki = TestPKI.open(data_dir / "pki")
    chain, key = pki.server_certificate("node-oidc", ["127.0.0.1", "localhost"])
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(32)
    redirect = "https://127.0.0.1:9/cb"
    config = {
        "issuer": issuer,
        "port": port,
        "clients": [
            {
                "client_id": "careid-bench",
                "client_secret": secret,
                "token_endpoint_auth_method": "client_secret_post",
                "redirect_uris": [redirect],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
            }
        ],
        "signing_key": RSAKey.generate_key(
            2048, parameters={"kid": "op", "use": "sig"}, private=True
        ).as_dict(private=True),
        "cookie_key": secrets.token_urlsafe(32),
        "tls_key": str(key),
        "tls_certificate": str(chain),
    }
    (work / "node.json").write_text(json.dumps(config))
    script = INSTALL_DIR / "careid-provider.mjs"
    script.write_text(PROVIDER_SCRIPT)
    log = work / "node.log"
    process = subprocess.Popen(  # noqa: S603
        ["node", str(script), str(work / "node.json")],  # noqa: S607
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(pki.ca_bundle_path)},
    )
    run = RunConfig(
        issuer=issuer,
        client_id="careid-bench",
        client_secret=secret,
        redirect_uri=redirect,
        ca_bundle=str(pki.ca_bundle_path),
    )
    wait_for(f"{issuer}/.well-known/openid-configuration", run.verify(), process, log)
    return process, run


def measure(make: Any, seconds: float, threads: int) -> dict[str, float]:
    """`threads` users signing in back to back for `seconds`: rate, p50, p95, errors."""
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user() -> None:
        flow, before = make()
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                before()
                flow.run()
            except Exception:
                with lock:
                    errors[0] += 1
                continue
            with lock:
                times.append((time.perf_counter() - started) * 1000)
        flow.close()

    workers = [threading.Thread(target=user) for _ in range(threads)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    ordered = sorted(times) or [0.0]
    return {
        "rate": len(times) / elapsed,
        "p50": statistics.median(ordered),
        "p95": ordered[int(0.95 * (len(ordered) - 1))],
        "errors": float(errors[0]),
        "n": float(len(times)),
    }


def reference_stack(prefix: str) -> tuple[Path, Path, Pool, ReferenceStack]:
    """(data dir, work folder, pool, stack): a fresh temporary data dir, a 2000-card pool
    issued in it and the reference stack started on it."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    work = data_dir / "work"
    work.mkdir()
    pool = ensure_pool(data_dir, 2000)
    return data_dir, work, pool, start_reference(data_dir, work, pool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--round", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    data_dir, work, pool, reference = reference_stack("careid-bench-")
    node, node_config = start_node(data_dir, work)
    cards = CardSupply(pool.personas)
    linked = CardSupply(signed_in_personas(pool.personas))
    ref_config = reference.run_config(pool)

    def make_reference() -> Any:
        flow, signer = smartcard_flow(ref_config, _quiet)
        return flow, lambda: signer.insert(*cards.next())

    def make_nhsmail() -> Any:
        flow = NhsmailSignInFlow(ref_config, _quiet, linked)
        return flow, flow.prepare

    def make_node() -> Any:
        driver = dev_interactions(DriverContext(workdir=work, user="alice", password="any"))  # noqa: S106
        flow = SignInFlow(node_config, _quiet, driver, "code flow", "")
        return flow, lambda: None

    makers = {"reference": make_reference, "node": make_node, "nhsmail": make_nhsmail}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in makers}
    try:
        for _ in range(args.rounds):
            for name, make in makers.items():
                results[name].append(measure(make, args.round, args.threads))
    finally:
        reference.stop()
        node.terminate()
        node.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)
    labels = {
        "reference": "reference provider, full smartcard sign-in",
        "node": "node-oidc-provider, plain code flow",
        "nhsmail": "reference stack, NHSmail smartcard sign-in",
    }
    summary = {}
    for name, rounds in results.items():
        summary[name] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        errors = sum(r["errors"] for r in rounds)
        s = summary[name]
        print(
            f"{labels[name]:45s} {s['rate']:7.1f}/s  p50 {s['p50']:6.1f} ms  p95 {s['p95']:6.1f} ms"
            f"  errors {errors:.0f}  ({args.rounds}×{args.round:g} s, {args.threads} users)"
        )
    node_rate = max(summary["node"]["rate"], 1e-9)
    for name, what in (("reference", "reference smartcard"), ("nhsmail", "NHSmail smartcard")):
        print(f"ratio {what} / node code flow: {summary[name]['rate'] / node_rate:.2f}")


if __name__ == "__main__":
    main()
