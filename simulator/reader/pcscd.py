"""Find, start and stop the machine's pcscd and describe its vpcd slots.

Only one pcscd can run per machine (fixed pid file and socket under /run/pcscd), so the
harness uses a running pcscd when it has vpcd readers, or starts one with a generated
reader.conf directory. vpcd gives each reader.conf entry two slots (ports P and P+1) and
keeps its per-slot state in static variables, so every entry after the first loads its own
copy of the driver: two entries sharing one loaded driver would overwrite each other's slots.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simulator.reader.errors import (
    ForeignPcscdError,
    NoSuchSlotError,
    NotInstalledError,
    PcscdNotRunningError,
    PortInUseError,
    ReaderError,
)
from simulator.reader.names import FRIENDLY_NAME
from simulator.reader.pcsc import list_readers

DEFAULT_SLOTS = 4
DEFAULT_BASE_PORT = 35963  # vpcd's own default (0x8C7B)
VPCD_SLOTS_PER_ENTRY = 2  # vicc_max_slots of Debian's libifdvpcd
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
DEFAULT_CONF_DIR = Path("/etc/reader.conf.d")
PCSCD_PID_FILE = Path("/run/pcscd/pcscd.pid")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def reader_dir(data_dir: Path) -> Path:
    """Where the reader stack keeps its state, generated config and logs."""
    return data_dir / "reader"


def state_file(data_dir: Path) -> Path:
    return reader_dir(data_dir) / "pcscd.json"


@dataclass(frozen=True)
class Slot:
    index: int
    port: int
    reader: str


@dataclass
class ReaderLayout:
    """A running pcscd and its vpcd slots."""

    pid: int | None
    conf_dir: str
    owned: bool  # started by careid from this data directory (so `down` may stop it)
    slots: list[Slot] = field(default_factory=list)
    log: str = ""

    def slot(self, index: int) -> Slot:
        if not 0 <= index < len(self.slots):
            raise NoSuchSlotError(index, len(self.slots))
        return self.slots[index]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ReaderLayout:
        raw = json.loads(text)
        raw["slots"] = [Slot(**slot) for slot in raw["slots"]]
        return cls(**raw)


@dataclass(frozen=True)
class ConfEntry:
    friendly_name: str
    device_name: str
    lib_path: str
    channel_id: int | None


def pcscd_binary() -> str:
    found = shutil.which("pcscd") or next(
        (str(p) for p in (Path("/usr/sbin/pcscd"), Path("/sbin/pcscd")) if p.exists()), None
    )
    if not found:
        raise NotInstalledError("pcscd (the PC/SC daemon)", "pcscd")
    return found


def check_installed() -> str:
    """The pcscd path; raises when pcscd or vpcd is missing, naming the apt-get fix."""
    binary = pcscd_binary()
    if not VPCD_DRIVER.exists():
        raise NotInstalledError("vsmartcard's vpcd reader driver", "vsmartcard-vpcd")
    return binary


# --- reading a running pcscd -----------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has ended


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_pcscd(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm == "pcscd" and _pid_alive(pid)


def running_pcscd() -> int | None:
    """The pid of the machine's pcscd, or None."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(PCSCD_PID_FILE.read_text().strip())
        if _is_pcscd(pid):
            return pid
    # No (or a stale) pid file: a pcscd may still run, e.g. socket-activated by systemd.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_pcscd(int(entry.name)):
            return int(entry.name)
    return None


def conf_dir_of(pid: int) -> Path:
    """The reader.conf directory a running pcscd was started with."""
    args = _cmdline(pid)
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return DEFAULT_CONF_DIR


def parse_reader_conf(conf_dir: Path) -> list[ConfEntry]:
    """The entries of every file in a reader.conf.d directory, in pcscd's (sorted) order."""
    entries: list[ConfEntry] = []
    if not conf_dir.is_dir():
        return entries
    for path in sorted(conf_dir.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        current: dict[str, str] = {}
        for raw in path.read_text(errors="replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" ")
            key = key.upper()
            current[key] = value.strip().strip('"')
            if key == "LIBPATH" and "FRIENDLYNAME" in current:
                channel = current.get("CHANNELID")
                entries.append(
                    ConfEntry(
                        current["FRIENDLYNAME"],
                        current.get("DEVICENAME", ""),
                        current["LIBPATH"],
                        int(channel, 0) if channel else None,
                    )
                )
                current = {}
    return entries


def _entry_port(entry: ConfEntry) -> int:
    # vpcd takes the port from DEVICENAME "/dev/null:PORT" (strtoul base 0), else CHANNELID.
    if ":" in entry.device_name:
        with contextlib.suppress(ValueError):
            return int(entry.device_name.rsplit(":", 1)[1], 0)
    return entry.channel_id if entry.channel_id is not None else DEFAULT_BASE_PORT


def vpcd_slots(entries: list[ConfEntry], readers: list[str] | None) -> list[Slot]:
    """The vpcd slots of a reader.conf, named as pcscd names them ("NAME NN SS")."""
    slots: list[Slot] = []
    seen: dict[str, int] = {}
    for entry in entries:
        number = seen.get(entry.friendly_name, 0)
        seen[entry.friendly_name] = number + 1
        if "ifdvpcd" not in Path(entry.lib_path).name:
            continue
        port = _entry_port(entry)
        for sub in range(VPCD_SLOTS_PER_ENTRY):
            name = f"{entry.friendly_name} {number:02X} {sub:02X}"
            if readers is None or name in readers:
                slots.append(Slot(len(slots), port + sub, name))
    return slots


def read_state(data_dir: Path) -> ReaderLayout | None:
    try:
        return ReaderLayout.from_json(state_file(data_dir).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_layout(data_dir: Path) -> ReaderLayout | None:
    """The running pcscd's vpcd slots, or None when no pcscd runs.

    Raises ForeignPcscdError when a pcscd runs without any vpcd reader.
    """
    pid = running_pcscd()
    if pid is None:
        return None
    readers = list_readers()
    conf_dir = conf_dir_of(pid)
    slots = vpcd_slots(parse_reader_conf(conf_dir), readers)
    if not slots:
        raise ForeignPcscdError(pid, readers)
    saved = read_state(data_dir)
    owned = saved is not None and saved.pid == pid
    return ReaderLayout(pid, str(conf_dir), owned, slots, saved.log if saved and owned else "")


# --- starting and stopping our own pcscd -------------------------------------------------


def write_reader_conf(conf_dir: Path, drivers_dir: Path, slots: int, base_port: int) -> None:
    """A reader.conf.d giving `slots` vpcd slots on ports base_port, base_port+1, ..."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    drivers_dir.mkdir(parents=True, exist_ok=True)
    for stale in conf_dir.iterdir():
        stale.unlink()
    blocks = []
    for number in range(-(-slots // VPCD_SLOTS_PER_ENTRY)):
        lib = VPCD_DRIVER
        if number:
            lib = drivers_dir / f"libifdvpcd-{number}.so"
            shutil.copyfile(VPCD_DRIVER, lib)
        port = base_port + number * VPCD_SLOTS_PER_ENTRY
        blocks.append(
            f'FRIENDLYNAME "{FRIENDLY_NAME} {number}"\n'
            f"DEVICENAME   /dev/null:{port}\n"
            f"LIBPATH      {lib}\n"
            f"CHANNELID    {port}\n"
        )
    (conf_dir / "careid-vpcd").write_text(
        "# Generated by careid-harness (`careid reader up`); rewritten on each start.\n"
        + "\n".join(blocks)
    )


def check_port_free(port: int) -> None:
    # vpcd listens on all interfaces, so test the same address it will bind.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(port) from exc
            raise


def start_pcscd(
    data_dir: Path,
    *,
    slots: int = DEFAULT_SLOTS,
    base_port: int = DEFAULT_BASE_PORT,
    timeout: float = START_TIMEOUT,
) -> ReaderLayout:
    """Use the running pcscd if it has vpcd readers, else start one with `slots` vpcd slots."""
    binary = check_installed()
    existing = find_layout(data_dir)
    if existing is not None:
        return existing
    total = -(-slots // VPCD_SLOTS_PER_ENTRY) * VPCD_SLOTS_PER_ENTRY
    for port in range(base_port, base_port + total):
        check_port_free(port)
    root = reader_dir(data_dir)
    conf_dir = root / "reader.conf.d"
    write_reader_conf(conf_dir, root / "drivers", slots, base_port)
    log_path = root / "pcscd.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [binary, "--foreground", "--config", str(conf_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the CLI that started it
        )
    expected = [f"{FRIENDLY_NAME} {n} 00 {s:02X}" for n in range(total // 2) for s in range(2)]
    deadline = time.monotonic() + timeout
    readers: list[str] = []
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ReaderError(
                f"pcscd exited with status {process.returncode} at start; see {log_path}"
            )
        with contextlib.suppress(PcscdNotRunningError):
            readers = list_readers()
            if all(name in readers for name in expected):
                break
        time.sleep(0.05)
    else:
        _terminate(process.pid, STOP_TIMEOUT)
        process.wait(timeout=1)
        raise ReaderError(
            f"pcscd did not list its {total} vpcd readers within {timeout:g} s "
            f"(listed: {readers}); see {log_path}"
        )
    layout = ReaderLayout(
        process.pid,
        str(conf_dir),
        True,
        vpcd_slots(parse_reader_conf(conf_dir), readers),
        str(log_path),
    )
    state_file(data_dir).write_text(layout.to_json())
    return layout


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait (bounded), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
        if not _pid_alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop_pcscd(data_dir: Path, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the pcscd this data directory started; False when there was none to stop."""
    saved = read_state(data_dir)
    if saved is None or saved.pid is None:
        return False
    stopped = False
    if _is_pcscd(saved.pid) and str(conf_dir_of(saved.pid)) == saved.conf_dir:
        _terminate(saved.pid, timeout)
        stopped = True
    state_file(data_dir).unlink(missing_ok=True)
    return stopped
