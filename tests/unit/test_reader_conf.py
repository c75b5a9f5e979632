"""reader.conf generation and parsing: which vpcd slots a pcscd has, on which ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from simulator.reader import pcscd
from simulator.reader.errors import NotInstalledError, PortInUseError
from simulator.reader.names import is_virtual_reader


@pytest.mark.skipif(not pcscd.VPCD_DRIVER.exists(), reason="vsmartcard-vpcd not installed")
def test_generated_conf_gives_consecutive_ports_and_own_driver_copies(tmp_path: Path) -> None:
    conf, drivers = tmp_path / "conf", tmp_path / "drivers"
    pcscd.write_reader_conf(conf, drivers, slots=4, base_port=40000)
    entries = pcscd.parse_reader_conf(conf)
    assert len(entries) == 2
    assert entries[0].lib_path == str(pcscd.VPCD_DRIVER)
    assert Path(entries[1].lib_path).parent == drivers  # its own copy: no shared statics
    slots = pcscd.vpcd_slots(entries, None)
    assert [(s.index, s.port) for s in slots] == [(i, 40000 + i) for i in range(4)]
    assert [s.reader for s in slots] == [
        "CareID Virtual Reader 0 00 00",
        "CareID Virtual Reader 0 00 01",
        "CareID Virtual Reader 1 00 00",
        "CareID Virtual Reader 1 00 01",
    ]
    assert all(is_virtual_reader(s.reader) for s in slots)


def test_debian_default_vpcd_entry_is_understood(tmp_path: Path) -> None:
    (tmp_path / "vpcd").write_text(
        'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x8C7B\n'
        "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x8C7B\n"
    )
    (tmp_path / "libccidtwin").write_text("# all comments\n#FRIENDLYNAME x\n")
    readers = ["Virtual PCD 00 00", "Virtual PCD 00 01", "Yubico YubiKey 00 00"]
    slots = pcscd.vpcd_slots(pcscd.parse_reader_conf(tmp_path), readers)
    assert [(s.reader, s.port) for s in slots] == [
        ("Virtual PCD 00 00", 35963),
        ("Virtual PCD 00 01", 35964),
    ]
    assert not is_virtual_reader("Yubico YubiKey 00 00")


def test_a_conf_without_vpcd_has_no_slots(tmp_path: Path) -> None:
    (tmp_path / "serial").write_text(
        'FRIENDLYNAME "GemPC Twin"\nDEVICENAME /dev/ttyS0\n'
        "LIBPATH /usr/lib/pcsc/drivers/serial/libccidtwin.so\n"
    )
    assert pcscd.vpcd_slots(pcscd.parse_reader_conf(tmp_path), None) == []


def test_a_port_in_use_is_reported_with_its_number() -> None:
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError) as error:
            pcscd.check_port_free(port)
    assert error.value.code == "port_in_use" and str(port) in str(error.value)


def test_missing_vpcd_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd, "pcscd_binary", lambda: "/usr/sbin/pcscd")
    monkeypatch.setattr(pcscd, "VPCD_DRIVER", Path("/nonexistent/libifdvpcd.so"))
    with pytest.raises(NotInstalledError, match="apt-get install -y vsmartcard-vpcd"):
        pcscd.check_installed()
