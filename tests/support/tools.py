"""System tools some tests drive (zbarimg, openssl, pdftoppm …).

``scripts/install-system-deps.sh`` installs them. A developer without one sees the test skipped
with the package to install; under ``CI=true`` a missing tool fails the test instead, so CI can
never go green by skipping.
"""

from __future__ import annotations

import os
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
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
