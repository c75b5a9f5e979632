"""Checks the suites make of any web answer, and how a SHOULD that is not met is reported."""

from __future__ import annotations

from collections.abc import Mapping

import pytest


def warn_unmet(message: str) -> None:
    """A SHOULD the target does not meet: reported, never a FAIL. The plugin has no WARNING
    outcome yet, so it is a skip whose reason starts with "WARNING:"."""
    pytest.skip(f"WARNING: {message}")


def frame_protected(headers: Mapping[str, str], *, same_origin_allowed: bool) -> bool:
    """Whether the answer forbids framing by other sites: X-Frame-Options, or a CSP
    frame-ancestors (RFC 7034; CSP Level 2). With `same_origin_allowed`, SAMEORIGIN and
    source lists without a wildcard count too; without it only DENY and 'none' do."""
    allowed = ("DENY", "SAMEORIGIN") if same_origin_allowed else ("DENY",)
    if headers.get("x-frame-options", "").strip().upper() in allowed:
        return True
    for directive in headers.get("content-security-policy", "").split(";"):
        name, _, sources = directive.strip().partition(" ")
        if name.lower() == "frame-ancestors":
            if same_origin_allowed:
                return "*" not in sources.split() and bool(sources.strip())
            return sources.strip() == "'none'"
    return False
