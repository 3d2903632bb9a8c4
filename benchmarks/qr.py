"""e-SSC dynamic QR codes (电子社保卡动态二维码) issued and verified per second on one core.

Measures the real token path — ``essc.tokens.issue_token`` (encode, sign, base45) and
``essc.tokens.verify_offline`` (decode, trust-list lookup, signature, validity checks) — for SM2
(the default) and Ed25519, single process, and runs ``openssl speed`` for the same algorithm on
the same machine in the same run as the baseline. Goal (issue): SM2 verify >= 50% of OpenSSL.

Rates are operations per CPU second of this process (``time.process_time``), which is how
``openssl speed`` counts too (operations / user CPU time), so a busy machine skews both alike.

    .venv/bin/python benchmarks/qr.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _common import emit_json, machine, ratio

from yikatong.crypto.keyring import Algorithm, SigningKey, TrustList
from yikatong.essc.tokens import Level, issue_token, verify_offline

CITY = "370200"
TTL_SECONDS = 60
# Distinct codes cycled through by the verify loop, as a terminal sees different phones.
VERIFY_POOL = 64
SM2_VERIFY_GOAL = 0.5

# `openssl speed` algorithm name and the label of its row in the summary table.
OPENSSL_ALGORITHMS: dict[Algorithm, tuple[str, str]] = {
    "SM2": ("sm2", "(CurveSM2)"),
    "Ed25519": ("ed25519", "(Ed25519)"),
}
_FLOAT = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class OpensslFigures:
    sign_per_s: float | None
    verify_per_s: float | None
    command: str
    error: str | None = None


def openssl_version() -> str | None:
    if shutil.which("openssl") is None:
        return None
    done = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def parse_openssl_speed(output: str, row_label: str) -> tuple[float, float] | None:
    """sign/s and verify/s from the summary table of ``openssl speed`` (the last two numbers of
    the row naming the curve), e.g. `` 256 bits SM2 (CurveSM2)   0.0004s   0.0003s   2802.7
    3374.0``."""
    for line in output.splitlines():
        if row_label in line and "bits" in line and "Doing" not in line:
            numbers = _FLOAT.findall(line.split(row_label, 1)[1])
            if len(numbers) >= 4:
                return float(numbers[-2]), float(numbers[-1])
    return None


def run_openssl_speed(algorithm: Algorithm, seconds: int) -> OpensslFigures:
    """Single-process ``openssl speed`` for the algorithm (``-evp`` is not needed on 3.x; tried
    as a fallback for builds that only expose SM2 through EVP)."""
    name, row_label = OPENSSL_ALGORITHMS[algorithm]
    if shutil.which("openssl") is None:
        return OpensslFigures(None, None, "", "openssl is not on PATH")
    attempts = [
        ["openssl", "speed", "-seconds", str(seconds), name],
        ["openssl", "speed", "-seconds", str(seconds), "-evp", name],
    ]
    error = ""
    for command in attempts:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        parsed = parse_openssl_speed(done.stdout + done.stderr, row_label)
        if parsed is not None:
            return OpensslFigures(parsed[0], parsed[1], " ".join(command))
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        error = f"`{' '.join(command)}` exited {done.returncode} without a result row: {tail[0]}"
    return OpensslFigures(None, None, " ".join(attempts[0]), error)


def per_cpu_second(operation: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Run ``operation`` until ``seconds`` of CPU time have passed; (operations/s, count)."""
    operation()  # warm up caches and lazy imports outside the timed part
    count = 0
    start = time.process_time()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(25):
            operation()
        count += 25
        elapsed = time.process_time() - start
    return count / elapsed, count


def measure_tokens(algorithm: Algorithm, seconds: float) -> dict[str, float]:
    """Issue and verify rates of the token path, plus the bare signature for comparison."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    key = SigningKey.generate(CITY, algorithm, now - dt.timedelta(days=1))
    trust = TrustList()
    trust.add(key.verify_key())
    card_ref = secrets.token_hex(8)  # the shape cards.service gives a card

    def issue() -> object:
        return issue_token(key, card_ref, Level.L1, now=now, ttl_seconds=TTL_SECONDS)

    pool = [
        issue_token(key, secrets.token_hex(8), Level.L1, now=now, ttl_seconds=TTL_SECONDS).text
        for _ in range(VERIFY_POOL)
    ]
    claims = verify_offline(pool[0], trust, now=now, accept_cities={CITY})
    assert claims.city_code == CITY, "the benchmark must verify genuine codes"
    position = 0

    def verify() -> object:
        nonlocal position
        position = (position + 1) % VERIFY_POOL
        return verify_offline(pool[position], trust, now=now, accept_cities={CITY})

    verify_key = key.verify_key()
    message = b"\x01" * 40  # about the size of a token body
    signature = key.sign(message)
    issue_rate, _ = per_cpu_second(issue, seconds)
    verify_rate, _ = per_cpu_second(verify, seconds)
    sign_rate, _ = per_cpu_second(lambda: key.sign(message), seconds / 2)
    raw_verify_rate, _ = per_cpu_second(lambda: verify_key.verify(message, signature), seconds / 2)
    return {
        "issue_per_s": round(issue_rate, 1),
        "verify_per_s": round(verify_rate, 1),
        "keyring_sign_per_s": round(sign_rate, 1),
        "keyring_verify_per_s": round(raw_verify_rate, 1),
        "token_chars": len(pool[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 s per measurement (< 30 s)")
    parser.add_argument(
        "--seconds", type=int, default=None, help="CPU seconds per measurement (default 5)"
    )
    args = parser.parse_args()
    seconds = args.seconds or (1 if args.quick else 5)

    print(f"e-SSC QR tokens per CPU second, single process, {seconds} s per measurement")
    version = openssl_version()
    print(f"baseline: {version or 'openssl not found'} (`openssl speed`, same machine)")
    ratios: dict[str, float | None] = {}
    figures: dict[str, Any] = {}
    openssl_out: dict[str, Any] = {}
    for algorithm in ("SM2", "Ed25519"):
        tag = algorithm.lower()
        baseline = run_openssl_speed(algorithm, seconds)
        ours = measure_tokens(algorithm, seconds)
        figures[tag] = ours
        openssl_out[tag] = {
            "sign_per_s": baseline.sign_per_s,
            "verify_per_s": baseline.verify_per_s,
            "command": baseline.command,
            "error": baseline.error,
        }
        ratios[f"{tag}_verify_vs_openssl"] = ratio(ours["verify_per_s"], baseline.verify_per_s)
        ratios[f"{tag}_sign_vs_openssl"] = ratio(ours["issue_per_s"], baseline.sign_per_s)
        print(f"{algorithm}:")
        if baseline.error:
            print(f"  openssl     : unavailable ({baseline.error})")
        else:
            print(
                f"  openssl     : sign {baseline.sign_per_s:10.1f}/s   "
                f"verify {baseline.verify_per_s:10.1f}/s"
            )
        print(
            f"  token path  : issue {ours['issue_per_s']:9.1f}/s   "
            f"verify {ours['verify_per_s']:10.1f}/s   "
            f"(ratio {ratios[f'{tag}_sign_vs_openssl']} / {ratios[f'{tag}_verify_vs_openssl']})"
        )
        print(
            f"  keyring only: sign  {ours['keyring_sign_per_s']:9.1f}/s   "
            f"verify {ours['keyring_verify_per_s']:10.1f}/s   "
            f"({ours['token_chars']} QR characters)"
        )
    sm2_verify = ratios["sm2_verify_vs_openssl"]
    goal_met = None if sm2_verify is None else sm2_verify >= SM2_VERIFY_GOAL
    print(
        f"goal: SM2 verify >= {SM2_VERIFY_GOAL:.0%} of OpenSSL: "
        f"{'n/a' if goal_met is None else 'met' if goal_met else 'NOT met'} ({sm2_verify})"
    )
    emit_json(
        {
            "benchmark": "qr",
            "quick": args.quick,
            "seconds_per_measurement": seconds,
            "unit": "operations per CPU second, one process",
            "ratios": ratios,
            "tokens": figures,
            "openssl": openssl_out,
            "openssl_version": version,
            "goal": {"sm2_verify_vs_openssl_min": SM2_VERIFY_GOAL, "met": goal_met},
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
