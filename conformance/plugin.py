"""The careid pytest plugin: targets, requirement markers, waivers, transcripts, results.

Registered through the `pytest11` entry point, so any project that installs careid-harness
can run `pytest --pyargs conformance.card --careid-reader "NAME"`. It stays inert in ordinary
runs (the project's own tests load it too): it acts only when a careid option is given, a
careid suite is named on the command line, or a collected test carries
`@pytest.mark.requirement`.

Targets (architecture: Seams 5): `--careid-reader NAME` (a card in a PC/SC reader, treated as
a card the harness does not own), `--careid-in-process` (the virtual card in this process),
`--careid-transport module:callable` (a vendor's own transport, treated as physical), and by
default the virtual card behind our pcscd + vpcd, freshly inserted for every test.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from careid_harness_pytest import suites_named
from conformance.results import SCHEMA, TestRecord, iso, now_iso, one_line, versions
from conformance.targets import (
    DEFAULT_PERSONA,
    CardSession,
    CardTarget,
    PhysicalTarget,
    TargetOptions,
    make_target,
)
from simulator.card.faults import Fault
from simulator.reader.guard import MIN_TRIES_TO_SPEND

FAULTS = tuple(fault.value for fault in Fault)


# --- activation ---------------------------------------------------------------------------------

RUN_KEY = pytest.StashKey["CareidRun"]()


def _run(config: pytest.Config) -> CareidRun:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        run = CareidRun(config)
        config.stash[RUN_KEY] = run
    return run


def activate(config: pytest.Config) -> None:
    """The run uses the harness (careid_harness_pytest decided): set up its run object."""
    fault = config.getoption("careid_fault")
    if fault and fault not in FAULTS:
        raise pytest.UsageError(
            f"--careid-fault={fault}: not a fault mode; one of {', '.join(FAULTS)}"
        )
    run = _run(config)
    if not config.option.xmlpath:
        config.option.xmlpath = str(run.run_dir / "junit.xml")


# --- collection: requirement markers, capability skips, waivers, the self-check -------------------


def _requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for marker in item.iter_markers("requirement"):
        ids.extend(str(arg) for arg in marker.args)
    return list(dict.fromkeys(ids))


def _has_requirements(item: pytest.Item) -> bool:
    return item.get_closest_marker("requirement") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: every collected item is seen here, before -k/-m/--deselect drop some.
    if config.stash.get(RUN_KEY, None) is None and not any(map(_has_requirements, items)):
        return
    _run(config).collected(items)


def pytest_sessionstart(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:
        run.started = now_iso()
        # The run object receives the per-test reports itself (pytest_runtest_logreport).
        session.config.pluginmanager.register(run, "careid-run")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return
    run.finish()
    if not run.self_check_ok and session.exitstatus in (pytest.ExitCode.OK, 0):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.summary(terminalreporter)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def careid_target(request: pytest.FixtureRequest) -> Iterator[CardTarget]:
    """The card target of this run (started once; stopped at the end of the session)."""
    run = _run(request.config)
    target = run.target
    target.start()
    try:
        yield target
    finally:
        target.stop()


@pytest.fixture
def card_session(
    request: pytest.FixtureRequest, careid_target: CardTarget
) -> Iterator[CardSession]:
    """A card for this test: a fresh one on virtual targets, the same one on a physical card.

    Every exchange is written (PIN masked) to `<run dir>/transcripts/<test>.txt`.
    """
    from simulator.reader.transcript import Transcript  # noqa: PLC0415

    run = _run(request.config)
    node = request.node
    destructive = run.is_destructive(node)
    if isinstance(careid_target, PhysicalTarget) and destructive and careid_target.unsafe_reason:
        pytest.skip(f"destructive tests stopped: {careid_target.unsafe_reason}")
    path = run.transcript_path(node.nodeid)
    path.parent.mkdir(parents=True, exist_ok=True)
    transcript = Transcript(path, title=node.nodeid)
    session = careid_target.open([])
    try:
        careid_target.describe_card(session.connection)  # before the transcript: not the test's
        session.connection.add_observer(transcript)
        session.observers.append(transcript)
        run.transcripts[node.nodeid] = path.relative_to(run.run_dir).as_posix()
        if isinstance(careid_target, PhysicalTarget) and destructive:
            careid_target.before_test(session)
        yield session
        if isinstance(careid_target, PhysicalTarget) and destructive:
            problem = careid_target.restore(session)
            if problem:
                pytest.fail(problem, pytrace=False)
    finally:
        try:
            careid_target.close(session)
        finally:
            transcript.close()


@pytest.fixture
def card_connection(card_session: CardSession) -> Any:
    """The connection to this test's card (`transmit(apdu) -> (data, sw)`)."""
    return card_session.connection


@pytest.fixture
def card_pin(careid_target: CardTarget) -> str:
    """The card's PIN: the persona's on virtual targets, --careid-pin on a physical card."""
    pin = careid_target.pin
    if pin is None:
        pytest.skip("the card's PIN is not known: pass --careid-pin (with --careid-destructive)")
    return pin


@pytest.fixture
def card_puk(careid_target: CardTarget) -> str:
    """The card's PUK: the persona's on virtual targets, --careid-puk on a physical card."""
    puk = careid_target.puk
    if puk is None:
        pytest.skip("the card's PUK is not known: pass --careid-puk (with --careid-destructive)")
    return puk


@pytest.fixture
def spare_pin_tries(card_session: CardSession) -> Any:
    """`spare_pin_tries(n)`: skip unless n wrong PINs can be spent and the counter restored.

    On virtual targets the card is fresh, so this only documents what the test spends.
    """

    def check(count: int) -> None:
        if card_session.target.profile != "physical":
            return
        tries = card_session.pin_tries_left()
        if tries is not None and tries < count + MIN_TRIES_TO_SPEND:
            pytest.skip(
                f"the card has {tries} PIN tries left; spending {count} must leave "
                f"{MIN_TRIES_TO_SPEND} to restore the counter"
            )

    return check


# --- the run ------------------------------------------------------------------------------------


def _new_run_id(suites: list[str]) -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + ("-".join(suites) or "careid")


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")[:180]


@dataclass
class _ItemInfo:
    nodeid: str
    name: str
    description: str
    requirements: list[str]
    expected: str
    waiver: str | None = None


@dataclass(eq=False)
class CareidRun:
    config: pytest.Config
    run_dir: Path = field(init=False)
    run_id: str = field(init=False)
    target: CardTarget = field(init=False)
    started: str = field(default_factory=now_iso)
    transcripts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from conformance.catalog import CatalogError, default_catalog, load_catalog  # noqa: PLC0415
        from conformance.waivers import WaiverError, load_waivers  # noqa: PLC0415

        config = self.config
        self.suites_named = suites_named(config)
        run_dir: Path | None = config.getoption("careid_run_dir")
        if run_dir is None:
            base = config.invocation_params.dir / "reports"
            self.run_id = _new_run_id(self.suites_named or ["card"])
            run_dir = base / self.run_id
            suffix = 1
            while run_dir.exists():
                suffix += 1
                run_dir = base / f"{self.run_id}-{suffix}"
            self.run_id = run_dir.name
        else:
            run_dir = run_dir if run_dir.is_absolute() else config.invocation_params.dir / run_dir
            self.run_id = run_dir.name
        self.run_dir = run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            path = config.getoption("careid_catalog")
            self.catalog = load_catalog(path) if path else default_catalog()
            waivers_path = config.getoption("careid_waivers")
            self.waivers = load_waivers(waivers_path) if waivers_path else []
        except (CatalogError, WaiverError) as exc:
            raise pytest.UsageError(str(exc)) from None
        self.target = make_target(self._target_options())
        self.items: dict[str, _ItemInfo] = {}
        self.records: dict[str, TestRecord] = {}
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.scope: list[str] = []
        self.used_waivers: set[int] = set()

    def _target_options(self) -> TargetOptions:
        get = self.config.getoption
        reader, in_process, transport = (
            get("careid_reader"),
            get("careid_in_process"),
            get("careid_transport"),
        )
        if sum(bool(x) for x in (reader, in_process, transport)) > 1:
            raise pytest.UsageError(
                "give one target: --careid-reader, --careid-in-process or --careid-transport"
            )
        physical = bool(reader or transport)
        kind = "physical" if physical else "in-process" if in_process else "virtual"
        if physical and get("careid_fault"):
            raise pytest.UsageError("--careid-fault needs a virtual target (the card is ours)")
        if physical and get("careid_persona"):
            raise pytest.UsageError("--careid-persona needs a virtual target (it issues the card)")
        if get("careid_destructive") and not (get("careid_pin") and get("careid_puk")):
            raise pytest.UsageError(
                "--careid-destructive needs the card's --careid-pin and --careid-puk: "
                "destructive tests restore the PIN state they change"
            )
        if get("careid_destructive") and not physical:
            self.notes.append("--careid-destructive is implied on virtual targets")
        return TargetOptions(
            kind=kind,  # type: ignore[arg-type]
            reader=reader,
            persona=get("careid_persona") or DEFAULT_PERSONA,
            fault=get("careid_fault"),
            destructive=bool(get("careid_destructive")),
            pin=get("careid_pin"),
            puk=get("careid_puk"),
            ca_bundle=get("careid_ca_bundle"),
            crl=get("careid_crl"),
            data_dir=get("careid_data_dir"),
            transport=transport,
        )

    # -- collection --------------------------------------------------------------------------

    def is_destructive(self, item: pytest.Item) -> bool:
        if item.get_closest_marker("destructive") is not None:
            return True
        return any(
            requirement.destructive
            for rid in _requirement_ids(item)
            if (requirement := self.catalog.get(rid)) is not None
        )

    def _virtual_only_reason(self, item: pytest.Item) -> str | None:
        marker = item.get_closest_marker("virtual_only")
        if marker is not None:
            return str(marker.args[0] if marker.args else marker.kwargs.get("reason", ""))
        known = [r for rid in _requirement_ids(item) if (r := self.catalog.get(rid)) is not None]
        if known and all("physical" not in r.profiles for r in known):
            names = ", ".join(r.id for r in known)
            return f"{names} apply to the virtual profile only"
        return None

    def collected(self, items: list[pytest.Item]) -> None:
        unknown: dict[str, list[str]] = {}
        covered: set[str] = set()
        suites: set[str] = set()
        for item in items:
            if not _has_requirements(item):
                continue
            ids = _requirement_ids(item)
            if not ids:
                self.problems.append(f"{item.nodeid}: requirement marker names no ID")
            for rid in ids:
                requirement = self.catalog.get(rid)
                if requirement is None:
                    unknown.setdefault(rid, []).append(item.nodeid)
                else:
                    covered.add(rid)
                    suites.add(requirement.suite)
            self.items[item.nodeid] = self._info(item, ids)
            self._apply_target_rules(item)
        for rid, nodeids in sorted(unknown.items()):
            self.problems.append(
                f"unknown requirement ID {rid} (not in the catalog) named by {', '.join(nodeids)}"
            )
        self.scope = sorted(suites | set(self.suites_named) & set(self.catalog.suites))
        if self._whole_suites_collected(items):
            for suite in self.scope:
                for requirement in self.catalog.for_suite(suite):
                    if requirement.id not in covered:
                        self.problems.append(
                            f"requirement {requirement.id} has no test ({requirement.statement})"
                        )
        else:
            self.notes.append(
                "partial run (not every test module of the suite was collected): "
                "requirements without a test were not checked"
            )
        for index, waiver in enumerate(self.waivers):
            if index not in self.used_waivers:
                self.notes.append(f"waiver for {waiver.test!r} matched no test")

    def _whole_suites_collected(self, items: list[pytest.Item]) -> bool:
        modules = {item.path for item in items if _has_requirements(item)}
        for directory in {module.parent for module in modules}:
            if any(path not in modules for path in directory.glob("test_*.py")):
                return False
        return True

    def _info(self, item: pytest.Item, ids: list[str]) -> _ItemInfo:
        function = getattr(item, "function", None)
        doc = (getattr(function, "__doc__", None) or "").strip()
        lines = [line.strip() for line in doc.splitlines() if line.strip()]
        expected = ""
        for marker in item.iter_markers("requirement"):
            expected = expected or str(marker.kwargs.get("expected") or "")
        if not expected:
            expected = lines[1] if len(lines) > 1 else ""
        if not expected:
            statements = [r.statement for rid in ids if (r := self.catalog.get(rid)) is not None]
            expected = "; ".join(statements)
        return _ItemInfo(
            nodeid=item.nodeid,
            name=item.name,
            description=lines[0] if lines else item.name,
            requirements=ids,
            expected=one_line(expected),
        )

    def _apply_target_rules(self, item: pytest.Item) -> None:
        target = self.target
        if target.profile == "physical":
            reason = self._virtual_only_reason(item)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=f"not run on a physical card: {reason}"))
                return
            if self.is_destructive(item) and not target.destructive:
                item.add_marker(
                    pytest.mark.skip(
                        reason="read-only run on a physical card: this test changes card state "
                        "(PIN tries, PIN, PUK or data); pass --careid-destructive with "
                        "--careid-pin and --careid-puk to run it"
                    )
                )
                return
        for index, waiver in enumerate(self.waivers):
            if waiver.matches(item.nodeid, _requirement_ids(item)):
                self.used_waivers.add(index)
                self.items[item.nodeid].waiver = waiver.justification
                item.add_marker(pytest.mark.xfail(reason=f"waived: {waiver.justification}"))
                break

    # -- results -----------------------------------------------------------------------------

    def transcript_path(self, nodeid: str) -> Path:
        return self.run_dir / "transcripts" / f"{_safe_name(nodeid)}.txt"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = self.items.get(report.nodeid)
        if info is None:
            return
        record = self.records.get(report.nodeid)
        if record is None:
            record = TestRecord(
                nodeid=info.nodeid,
                name=info.name,
                description=info.description,
                requirements=info.requirements,
                expected=info.expected,
                waiver=info.waiver,
                started=iso(report.start),
            )
            self.records[report.nodeid] = record
        record.duration += report.duration
        waived = hasattr(report, "wasxfail")
        if report.skipped and waived:
            record.outcome = "waived"
            record.actual = one_line(_crash_message(report) or "failed (waived)")
        elif report.skipped:
            record.outcome = "skipped"
            record.actual = one_line(_skip_reason(report))
        elif report.failed:
            if report.when == "call":
                record.outcome = "failed"
            elif record.outcome != "failed":
                record.outcome = "error"
            message = _crash_message(report)
            record.actual = one_line(message) or f"{report.when} failed"

    @property
    def self_check_ok(self) -> bool:
        return not self.problems

    def finish(self) -> None:
        from conformance.results import write_results  # noqa: PLC0415

        requirements = [
            {
                "id": r.id,
                "statement": r.statement,
                "source": r.source,
                "profiles": r.report_profiles(),
            }
            for suite in self.scope
            for r in self.catalog.for_suite(suite)
        ]
        tests = []
        for record in self.records.values():
            record.transcript = self.transcripts.get(record.nodeid)
            tests.append(record.to_json())
        document = {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "suite": ",".join(self.scope or self.suites_named) or "card",
            "started": self.started,
            "finished": now_iso(),
            "target": dict(self.target.description),
            "mode": self.target.mode,
            "versions": versions(),
            "requirements": requirements,
            "tests": tests,
            "self_check": {"ok": self.self_check_ok, "problems": list(self.problems)},
            "detection": None,
        }
        write_results(self.run_dir / "results.json", document)

    def summary(self, terminal: Any) -> None:
        terminal.section("careid", sep="-")
        counts: dict[str, int] = {}
        for record in self.records.values():
            counts[record.outcome] = counts.get(record.outcome, 0) + 1
        description = self.target.description
        terminal.write_line(
            f"target: {description['kind']}"
            + (f", reader {description['reader']}" if description["reader"] else "")
            + f", mode {self.target.mode}"
            + (f", fault {description['fault']}" if description["fault"] else "")
        )
        terminal.write_line(
            "tests: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        )
        for record in self.records.values():
            if record.outcome == "waived":
                terminal.write_line(f"waived: {record.nodeid}: {record.waiver}")
        for note in self.notes:
            terminal.write_line(f"note: {note}")
        if self.problems:
            terminal.write_line(
                f"self-check FAILED ({len(self.problems)} problems):", red=True, bold=True
            )
            for problem in self.problems:
                terminal.write_line(f"  {problem}", red=True)
        else:
            terminal.write_line("self-check: ok (every requirement in scope has a test)")
        terminal.write_line(f"results: {os.path.relpath(self.run_dir / 'results.json')}")


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longrepr or "")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr or "skipped")
