"""A soak of the reference stack: NHSmail smartcard sign-ins at half capacity, memory watched.

1. Capacity: THREADS users sign in back to back for PROBE seconds (the NHSmail portal's
   "Log in with my Care Identity" → the provider with a linked persona's fresh card → the
   portal's signed-in page: `loadtests.portal_flows.NhsmailSignInFlow`), unless `--capacity`
   gives it (e.g. from benchmarks/signin_throughput.py).
2. Soak: sign-ins started at a steady rate of half that capacity (open loop: sign-in k starts
   at k / rate seconds, whatever the others do) for MINUTES, by a bounded pool of threads.
3. Memory: the resident set (VmRSS) of each service process (cis2, nhsmail, myidentity)
   sampled every SAMPLE seconds; judged flat when the average of the last fifth of the soak
   (the last minute of 5) is within TOLERANCE % of the average of the second fifth (the
   second minute: the first one holds the warm-up: caches, first connections).

Prints the figures and exits 0 only with zero errors, the rate held (≥ 95 % of the target)
and every process's memory flat.

    .venv/bin/python benchmarks/soak.py [--minutes 5] [--capacity N] [--threads 4]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.signin_throughput import measure, reference_stack
from loadtests.accounts import signed_in_personas
from loadtests.flows import CardSupply
from loadtests.portal_flows import NhsmailSignInFlow
from loadtests.target import RunConfig


def _quiet(*_: Any) -> None:
    return None


def rss_kib(pid: int) -> int:
    """The process's resident set size in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Soak:
    """Sign-ins at `rate` per second for `seconds`, memory sampled meanwhile."""

    config: RunConfig
    cards: CardSupply
    rate: float
    seconds: float
    threads: int
    pids: dict[str, int]
    sample: float = 5.0
    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    memory: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    late: int = 0  # sign-ins started more than a second behind their slot
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _slot(self) -> int | None:
        with self._lock:
            k = self._next
            self._next += 1
        return k if k / self.rate < self.seconds else None

    def _user(self, began: float) -> None:
        flow = NhsmailSignInFlow(self.config, _quiet, self.cards)
        try:
            while (k := self._slot()) is not None:
                delay = began + k / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -1.0:
                    with self._lock:
                        self.late += 1
                started = time.perf_counter()
                try:
                    flow.prepare()
                    flow.run()
                except Exception as exc:  # counted and shown, the soak goes on
                    with self._lock:
                        self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                with self._lock:
                    self.times.append((time.perf_counter() - started) * 1000)
        finally:
            flow.close()

    def _watch(self, began: float, stop: threading.Event) -> None:
        while not stop.is_set():
            at = time.monotonic() - began
            for name, pid in self.pids.items():
                self.memory.setdefault(name, []).append((at, rss_kib(pid)))
            stop.wait(self.sample)

    def run(self) -> float:
        """Run the soak; its duration in seconds."""
        began = time.monotonic()
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(began, stop), daemon=True)
        watcher.start()
        users = [threading.Thread(target=self._user, args=(began,)) for _ in range(self.threads)]
        for user in users:
            user.start()
        for user in users:
            user.join()
        elapsed = time.monotonic() - began
        stop.set()
        watcher.join()
        return elapsed


def window_mean(samples: list[tuple[float, int]], start: float, end: float) -> float:
    inside = [kib for at, kib in samples if start <= at < end]
    if not inside:
        raise RuntimeError(f"no memory sample between {start:g} s and {end:g} s")
    return statistics.fmean(inside)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[int(q * (len(ordered) - 1))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0, help="soak duration")
    parser.add_argument("--capacity", type=float, help="sign-ins/s (default: measure it)")
    parser.add_argument("--probe", type=float, default=20.0, help="capacity probe seconds")
    parser.add_argument("--threads", type=int, default=4, help="concurrent users")
    parser.add_argument("--sample", type=float, default=5.0, help="memory sample period, s")
    parser.add_argument("--tolerance", type=float, default=10.0, help="flat memory, ± %%")
    args = parser.parse_args()
    data_dir, _, pool, stack = reference_stack("careid-soak-")
    config = stack.run_config(pool)
    cards = CardSupply(signed_in_personas(pool.personas))
    try:
        capacity = args.capacity
        if capacity is None:

            def make() -> Any:
                flow = NhsmailSignInFlow(config, _quiet, cards)
                return flow, flow.prepare

            probe = measure(make, args.probe, args.threads)
            capacity = probe["rate"]
            print(
                f"capacity (NHSmail smartcard sign-ins, {args.threads} users, {args.probe:g} s): "
                f"{capacity:.1f}/s  p50 {probe['p50']:.1f} ms  p95 {probe['p95']:.1f} ms  "
                f"errors {probe['errors']:.0f}"
            )
        rate = capacity / 2
        seconds = args.minutes * 60
        soak = Soak(config, cards, rate, seconds, args.threads, stack.pids(), args.sample)
        print(f"soak: {rate:.1f} sign-ins/s for {seconds:g} s, services {stack.pids()}")
        elapsed = soak.run()
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    ordered = sorted(soak.times)
    achieved = len(ordered) / elapsed
    print(
        f"soak: {len(ordered)} sign-ins in {elapsed:.0f} s = {achieved:.2f}/s "
        f"(target {rate:.2f}/s), errors {len(soak.errors)}, late starts {soak.late}, "
        f"p50 {percentile(ordered, 0.5):.1f} ms  p95 {percentile(ordered, 0.95):.1f} ms  "
        f"p99 {percentile(ordered, 0.99):.1f} ms"
    )
    for error in sorted(set(soak.errors))[:5]:
        print(f"  error: {error}")
    fifth = seconds / 5
    flat = True
    for name, samples in soak.memory.items():
        second = window_mean(samples, fifth, 2 * fifth)
        last = window_mean(samples, 4 * fifth, seconds + 1)
        change = (last - second) / second * 100
        ok = abs(change) <= args.tolerance
        flat = flat and ok
        trace = " ".join(f"{kib / 1024:.0f}" for _, kib in samples[:: max(1, len(samples) // 12)])
        print(
            f"memory {name:10s} start {samples[0][1] / 1024:6.1f} MiB  2nd fifth "
            f"{second / 1024:6.1f} MiB  last fifth {last / 1024:6.1f} MiB  change "
            f"{change:+5.1f} %  {'flat' if ok else 'NOT flat'}  (MiB over time: {trace})"
        )
    held = achieved >= 0.95 * rate
    verdict = not soak.errors and held and flat
    print(
        f"soak verdict: {'PASS' if verdict else 'FAIL'} (errors {len(soak.errors)}, rate "
        f"{'held' if held else 'NOT held'}, memory {'flat' if flat else 'NOT flat'} "
        f"within ±{args.tolerance:g} %)"
    )
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
