"""Running Locust for a load run: always in child processes (Locust monkey-patches gevent).

One process (`workers=0`), or Locust's own master/worker mode on loopback: a master that
waits for `workers` workers, each started here as its own process (one per core is the rule
of thumb; workers on other machines point `--master-host` at the master instead, see
docs/load.md). Every process started here is stopped here, by its PID.

The run folder receives Locust's outputs (`locust_stats.csv`, `locust_stats_history.csv`,
`locust_failures.csv`, `locust.html`, `locust.json`), its log, and `run.json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from conformance.oidc.target import free_port
from loadtests.target import stop_process

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
SHAPEFILE = HERE / "shapefile.py"
PREFIX = "locust"
FLOW_CLASSES = {
    "smartcard": "SmartcardSignIn",
    "totp": "TotpSignIn",
    "nhsmail": "NhsmailSignIn",
    "linking": "Linking",
    "password": "PasswordMfaSignIn",
    "vpcd": "VpcdSignIn",  # cards in real vpcd slots (run.json `vpcd_readers`)
}
PORTAL_FLOWS = ("nhsmail", "linking", "password")  # need the portals (the reference stack)


def parse_flows(specs: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, int]]:
    """`("nhsmail:3", "password")` -> (("nhsmail", "password"), {"nhsmail": 3}): the flows
    in order, once each, and the weights given (the others keep their class weight)."""
    flows: list[str] = []
    weights: dict[str, int] = {}
    for spec in specs:
        name, _, weight = spec.partition(":")
        name = name.strip()
        if name not in FLOW_CLASSES:
            raise ValueError(f"unknown flow {name!r}: one of {', '.join(FLOW_CLASSES)}")
        if weight:
            if not weight.isdigit() or int(weight) < 1:
                raise ValueError(f"{spec!r}: the weight is a whole number from 1")
            weights[name] = int(weight)
        if name not in flows:
            flows.append(name)
    return tuple(flows), weights


@dataclass
class LocustRun:
    run_file: Path
    run_dir: Path
    users: int = 10
    spawn_rate: float = 5.0
    run_time: float = 60.0  # seconds; the bound of every run, even with iterations
    flows: tuple[str, ...] = ("smartcard",)
    workers: int = 0  # 0: one process; N: master + N workers on loopback
    shape: str | None = None
    quit_when_done: bool = False  # with iterations per user
    log_level: str = "WARNING"
    extra: list[str] = field(default_factory=list)

    def classes(self) -> list[str]:
        unknown = [flow for flow in self.flows if flow not in FLOW_CLASSES]
        if unknown:
            raise ValueError(f"unknown flow(s) {', '.join(unknown)}: {', '.join(FLOW_CLASSES)}")
        return [FLOW_CLASSES[flow] for flow in self.flows]

    def _base(self) -> list[str]:
        files = f"{LOCUSTFILE},{SHAPEFILE}" if self.shape else str(LOCUSTFILE)
        return [sys.executable, "-m", "locust", "-f", files, "--careid-run", str(self.run_file)]

    def master_command(self, master_port: int | None = None) -> list[str]:
        out = self.run_dir / PREFIX
        command = [
            *self._base(),
            "--headless",
            "--users",
            str(self.users),
            "--spawn-rate",
            str(self.spawn_rate),
            "--run-time",
            f"{max(1, round(self.run_time))}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(out),
            "--html",
            str(out) + ".html",
            "--json-file",
            str(out),
            "--logfile",
            str(self.run_dir / "locust.log"),
            "--loglevel",
            self.log_level,
            "--only-summary",
        ]
        if self.shape:
            command += ["--careid-shape", self.shape]
        if self.quit_when_done:
            command.append("--careid-quit-when-done")
        if master_port is not None:
            command += [
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(master_port),
                "--expect-workers",
                str(self.workers),
                "--expect-workers-max-wait",
                "60",
            ]
        return [*command, *self.extra, *self.classes()]

    def worker_command(self, master_port: int, index: int) -> list[str]:
        return [
            *self._base(),
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(master_port),
            "--logfile",
            str(self.run_dir / f"locust-worker{index}.log"),
            "--loglevel",
            self.log_level,
            *self.classes(),
        ]


def _env() -> dict[str, str]:
    root = str(HERE.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def run_locust(run: LocustRun) -> int:
    """Run Locust to the end (bounded by run_time + a margin); Locust's exit status."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    env = _env()
    master_port = free_port() if run.workers else None
    out = (run.run_dir / "locust.out").open("wb")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        master = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            run.master_command(master_port), stdout=out, stderr=subprocess.STDOUT, env=env
        )
        processes.append(master)
        if master_port is not None:
            for index in range(run.workers):
                processes.append(
                    subprocess.Popen(  # noqa: S603
                        run.worker_command(master_port, index),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        deadline = time.monotonic() + run.run_time + 90.0
        while master.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if master.poll() is None:
            stop_process(master)
            return 3
        for worker in processes[1:]:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                stop_process(worker)
        return int(master.returncode)
    finally:
        for process in reversed(processes):
            stop_process(process)
        out.close()
