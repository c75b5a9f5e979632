"""The reader stack a test session runs on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.reader import pcscd
from simulator.reader.control import ReaderControl
from simulator.reader.pcscd import ReaderLayout


@dataclass
class ReaderStack:
    data_dir: Path
    layout: ReaderLayout
    control: ReaderControl

    @property
    def owned(self) -> bool:
        return self.layout.owned

    def restart_pcscd(self) -> None:
        """Stop our pcscd by PID and start it again with the same slots."""
        slots = len(self.layout.slots)
        base = self.layout.slots[0].port
        pcscd.stop_pcscd(self.data_dir)
        self.layout = pcscd.start_pcscd(self.data_dir, slots=slots, base_port=base)
        self.control.refresh(self.layout)
