"""System tools some tests drive (zbarimg, openssl, pdftoppm …).

``scripts/install-system-deps.sh`` installs them. A missing tool fails the test with the package
to install: a run can never go green by skipping.
"""

from __future__ import annotations

import shutil

import pytest


def need(tool: str, package: str) -> str:
    """The path of ``tool``; skip (or fail under CI) when it is not installed."""
    path = shutil.which(tool)
    if path is not None:
        return path
    message = (
        f"{tool} is not installed (Debian package {package}; see scripts/install-system-deps.sh)"
    )
    pytest.fail(message)
