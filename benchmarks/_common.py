"""What every benchmark shares: the machine it ran on, peak RSS, and the one-line JSON result.

House rules: a benchmark reports ratios against a baseline measured in the same run on the same
machine, prints human-readable lines first and, as its last line, one JSON object.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from typing import Any


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far, in KiB (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # macOS reports bytes.
    return peak // 1024 if sys.platform == "darwin" else peak


def current_rss_kib() -> int | None:
    """Resident set size now, in KiB (Linux only; ``None`` elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Enough about the machine to tell two runs apart."""
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)


def emit_json(result: dict[str, Any]) -> None:
    """The machine-readable result: exactly one JSON object on the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":"), sort_keys=False))
    sys.stdout.flush()
