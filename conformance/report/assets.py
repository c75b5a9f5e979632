"""The report page's own stylesheet and script, copied into every run folder beside index.html.

The page loads nothing else: its Content-Security-Policy allows scripts, styles and images from
its own origin only (for a page opened from disk, Chromium counts file: URLs as 'self'), so
no inline script or style runs even if escaping were ever missed.
"""

from __future__ import annotations

import secrets
from importlib import resources
from pathlib import Path

STATIC_DIR = "static"
STYLESHEET = f"{STATIC_DIR}/report.css"
SCRIPT = f"{STATIC_DIR}/report.js"
STATIC_FILES = (STYLESHEET, SCRIPT)
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:"


def static_bytes(name: str) -> bytes:
    """A file of STATIC_FILES as shipped in the package."""
    return (resources.files("conformance.report") / name).read_bytes()


def copy_static(run_dir: Path) -> list[Path]:
    """Write STATIC_FILES into run_dir (each replaced whole: a page open in a tab never sees
    half a script); returns their paths."""
    written = []
    for name in STATIC_FILES:
        path = run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            temp.write_bytes(static_bytes(name))
            temp.replace(path)
        finally:
            temp.unlink(missing_ok=True)
        written.append(path)
    return written
