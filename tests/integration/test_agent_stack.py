"""The Identity Agent on the real PC/SC stack (pcscd + vpcd, virtual cards).

The agent suite runs through pcscd here: card present/absent, right and wrong PIN, locked
card, removal with the dialog open, removal after signing under each policy (the suite's
HTTPS site records the session-end call), two readers with two cards, refused origins,
and the dialog in Chromium. Then `careid agent up` runs as a process of its own. Neither
leaves a PIN in any output, log, transcript or report.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conformance.runner import suite_command
from simulator.personas import get_persona
from tests.integration._stack import ReaderStack

pytestmark = pytest.mark.integration
SUITE_PERSONAS = ("alice", "bob", "erin")


def secrets_used(personas: tuple[str, ...] = SUITE_PERSONAS) -> set[str]:
    """Each persona's PIN and the wrong PIN the suite derives from it (digit + 1)."""
    pins = set()
    for persona in personas:
        pin = get_persona(persona).card.pin
        pins.add(pin)
        pins.add("".join(str((int(d) + 1) % 10) for d in pin))
    return pins


def assert_no_pin(texts: dict[str, str], pins: set[str]) -> None:
    for where, text in texts.items():
        for pin in pins:
            assert pin not in text, f"a PIN appears in {where}"
            spaced = " ".join(f"{ord(c):02X}" for c in pin)
            assert spaced not in text, f"a PIN's bytes appear in {where}"


def text_files(directory: Path) -> dict[str, str]:
    return {
        str(path): path.read_text(errors="replace")
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix in (".json", ".xml", ".txt", ".csv", ".html", ".log")
    }


def test_agent_suite_through_pcscd(stack: ReaderStack, tmp_path: Path) -> None:
    run_dir = tmp_path / "agent-run"
    env = dict(os.environ, CAREID_DATA_DIR=str(stack.data_dir))
    command = suite_command("agent", run_dir=run_dir, extra_args=["-q"])
    done = subprocess.run(  # noqa: S603 - our own argv
        command, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "29 passed" in output, output[-2000:]
    assert (run_dir / "screenshots" / "pin-dialog.png").stat().st_size > 1000
    assert (run_dir / "screenshots" / "pin-dialog-wrong-pin.png").is_file()
    transcripts = list((run_dir / "transcripts").glob("*.txt"))
    assert transcripts, "the reference agent's APDUs are in the report"
    verify_lines = [
        line
        for path in transcripts
        for line in path.read_text().splitlines()
        if line.split("> ")[-1].startswith("00 20 00 80 08")
    ]
    assert verify_lines and all("**" in line for line in verify_lines)
    assert_no_pin({"suite output": output, **text_files(run_dir)}, secrets_used())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_agent_cli_up_status_stop(
    stack: ReaderStack, issue: Callable[..., Path], tmp_path: Path
) -> None:
    """`careid agent up` in its own process: headless PINs, one reader, transcripts; status;
    a signature; SIGTERM stops it by PID; its log and transcripts hold no PIN."""
    card = issue("alice")
    slot = stack.layout.slots[0]
    uuid = get_persona("alice").care_identity.uuid
    pin = get_persona("alice").card.pin
    pins = tmp_path / "pins.toml"
    pins.write_text(f'[pins]\n"{uuid}" = "{pin}"\n')
    port = free_port()
    origin = "https://127.0.0.1:9443"
    log = tmp_path / "agent.log"
    careid = [sys.executable, "-c", "from conformance.cli import main; main()"]
    data = ["--data-dir", str(stack.data_dir)]
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            [
                *careid,
                "agent",
                "up",
                "--port",
                str(port),
                "--allow-origin",
                origin,
                "--reader",
                slot.reader,
                "--headless-pins",
                str(pins),
                "--transcripts",
                str(tmp_path / "transcripts"),
                "--policy",
                "connect",
                *data,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the agent did not start"
                time.sleep(0.1)
        stack.control.insert(card, slot.index)
        deadline = time.monotonic() + 10
        while True:
            status = httpx.get(url + "/v1/status", headers={"Origin": origin}).json()
            if status["readers"] and status["readers"][0]["card"]:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["headless"] is True and status["policy"] == "connect"
        assert [r["name"] for r in status["readers"]] == [slot.reader]
        shown = subprocess.run(  # noqa: S603
            [*careid, "agent", "status", *data],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert "Dr Alice Smith" in shown and uuid in shown and "connect" in shown
        signed = httpx.post(
            url + "/v1/sign", json={"challenge": "Q" * 24}, headers={"Origin": origin}
        )
        assert signed.status_code == 200 and signed.json()["state"] == "signed", signed.text
        stack.control.remove(slot.index)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    assert process.returncode == 0, log.read_text()
    assert not (stack.data_dir / "agent" / "agent.json").exists()
    texts = {"agent log": log.read_text(), **text_files(tmp_path / "transcripts")}
    assert "request" in texts["agent log"] and "card inserted" in texts["agent log"]
    assert len(texts) > 1, "a transcript of the insertion"
    assert_no_pin(texts, {pin})
