"""Federation between two real nodes on loopback: envelopes/s and routed authorisation latency.

Two ``ykt serve`` processes (Qingdao 370200, Jinan 370100), each with its own SQLite database,
in a league made by ``federation.demo_league`` (the product's bootstrap). Measured in one run:

- ``envelopes``: N notes queued in Qingdao's outbox; the clock runs until Jinan has applied all
  of them — each one signed (SM2) by Qingdao's dispatcher, POSTed, verified, stored and applied
  in order by Jinan's inbox. Reported as envelopes/s;
- ``authorise``: a Qingdao terminal authorises a Jinan card (``POST /federation/authorisations``):
  Qingdao signs a request, Jinan verifies it, checks the card, signs the answer, Qingdao verifies
  it and records the payment for clearing. p50/p99 latency seen by the terminal;
- ``raw``: the baseline, in the same run against the same Jinan server — plain unsigned HTTP
  round trips that touch the database (``GET /api/v1/node``), sequentially: requests/s, p50, p99.

Ratios: envelopes/s ÷ raw requests/s, and authorisation p50/p99 ÷ raw p50/p99.

    .venv/bin/python benchmarks/federation.py [--quick] [--envelopes N] [--authorisations K]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import emit_json, machine, ratio
from yikatong.api.auth import issue_token
from yikatong.cards import service as cards_service
from yikatong.core import db
from yikatong.core.ids import make_resident_id
from yikatong.federation import service as federation
from yikatong.federation.demo_league import (
    bootstrap_demo_league,
    serve_league,
    settings_of,
)
from yikatong.node import Node, set_current
from yikatong.registry import service as registry_service

QUICK = {"envelopes": 300, "authorisations": 60, "raw": 200}
FULL = {"envelopes": 3000, "authorisations": 500, "raw": 2000}


def _free_base_port() -> int:
    import socket

    for base in range(20000, 60000, 7):
        ok = True
        for port in (base, base + 1):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no two free loopback ports")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _jinan_card(jinan: Node) -> str:
    set_current(jinan)
    with jinan.transaction() as session:
        resident = registry_service.enrol_resident(
            session,
            registry_service.ResidentInput(
                id_number=make_resident_id("370102", dt.date(1970, 1, 1), 7),
                name="张伟",
                district_code="370102",
            ),
            actor="benchmark",
        )
        card = cards_service.apply_for_card(session, resident.id, actor="benchmark")
    with jinan.transaction() as session:
        cards_service.issue_card(session, card.card_no, actor="benchmark", reason="made")
        cards_service.activate_card(session, card.card_no, actor="benchmark", reason="received")
    return card.card_ref


def run(envelopes: int, authorisations: int, raw: int) -> dict[str, object]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ykt-fed-bench-") as tmp:
        league = bootstrap_demo_league(
            Path(tmp) / "league",
            base_port=_free_base_port(),
            cities=(("370200", "青岛"), ("370100", "济南")),
        )
        qd_city, jn_city = league.cities
        qingdao, jinan = Node.open(settings_of(qd_city)), Node.open(settings_of(jn_city))
        for node in (qingdao, jinan):
            db.create_schema(node.engine)
        card_ref = _jinan_card(jinan)
        terminal = {"Authorization": f"Bearer {issue_token(qingdao, 'bench', ['terminal'])}"}
        servers = serve_league(league)
        print(f"two nodes up in {time.perf_counter() - started:.1f} s")
        try:
            with httpx.Client() as client:
                # Baseline: unsigned round trips to the same server, one at a time.
                for _ in range(20):
                    client.get(f"{jn_city.endpoint}/api/v1/node")
                raw_ms = []
                t0 = time.perf_counter()
                for _ in range(raw):
                    s = time.perf_counter()
                    client.get(f"{jn_city.endpoint}/api/v1/node").raise_for_status()
                    raw_ms.append((time.perf_counter() - s) * 1000)
                raw_per_s = raw / (time.perf_counter() - t0)

                # Routed authorisations.
                url = f"{qd_city.endpoint}/api/v1/federation/authorisations"
                ride = {"issuer_city": "370100", "instrument": "card", "card_ref": card_ref}
                auth_ms = []
                for i in range(authorisations + 5):
                    s = time.perf_counter()
                    answer = client.post(
                        url, json={**ride, "amount": "2.00"}, headers=terminal, timeout=30
                    )
                    elapsed = (time.perf_counter() - s) * 1000
                    answer.raise_for_status()
                    if answer.json()["mode"] != "online":
                        raise RuntimeError(f"authorisation was not online: {answer.text}")
                    if i >= 5:  # the first few warm both servers up
                        auth_ms.append(elapsed)

            # Envelopes: queue N notes, time until Jinan applied them all.
            with qingdao.transaction() as session:
                for i in range(envelopes):
                    federation.send_note(session, "370100", f"bench {i}", stream="bench")
            t0 = time.perf_counter()
            deadline = t0 + 600
            applied = 0
            # Poll with a read-only connection: no write lock taken from the receiving server.
            database = jn_city.data_dir / "yikatong.db"
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as reader:
                while time.perf_counter() < deadline:
                    row = reader.execute(
                        "SELECT count(*) FROM federation_note WHERE stream = 'bench'"
                    ).fetchone()
                    applied = int(row[0])
                    if applied >= envelopes:
                        break
                    time.sleep(0.05)
            envelope_s = time.perf_counter() - t0
            if applied < envelopes:
                raise RuntimeError(f"only {applied} of {envelopes} envelopes applied")
            envelopes_per_s = envelopes / envelope_s
        finally:
            for server in servers:
                server.stop()
            qingdao.close()
            jinan.close()

    auth_p50, auth_p99 = statistics.median(auth_ms), percentile(auth_ms, 0.99)
    raw_p50, raw_p99 = statistics.median(raw_ms), percentile(raw_ms, 0.99)
    print(
        f"envelopes signed→sent→verified→applied: {envelopes} in {envelope_s:.2f} s "
        f"= {envelopes_per_s:,.0f}/s"
    )
    print(f"routed authorisation ({authorisations}): p50 {auth_p50:.1f} ms, p99 {auth_p99:.1f} ms")
    print(
        f"raw HTTP round trip ({raw}): {raw_per_s:,.0f}/s, p50 {raw_p50:.2f} ms, "
        f"p99 {raw_p99:.2f} ms"
    )
    return {
        "benchmark": "federation",
        "envelopes": envelopes,
        "envelopes_per_s": round(envelopes_per_s, 1),
        "authorisations": authorisations,
        "authorise_p50_ms": round(auth_p50, 2),
        "authorise_p99_ms": round(auth_p99, 2),
        "raw_requests_per_s": round(raw_per_s, 1),
        "raw_p50_ms": round(raw_p50, 3),
        "raw_p99_ms": round(raw_p99, 3),
        "ratios": {
            "envelopes_per_s_vs_raw_requests_per_s": ratio(envelopes_per_s, raw_per_s),
            "authorise_p50_vs_raw_p50": ratio(auth_p50, raw_p50),
            "authorise_p99_vs_raw_p99": ratio(auth_p99, raw_p99),
        },
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 30 s)")
    parser.add_argument("--envelopes", type=int, help="notes to send Qingdao → Jinan")
    parser.add_argument("--authorisations", type=int, help="routed authorisations to time")
    parser.add_argument("--raw", type=int, help="raw HTTP round trips (baseline)")
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    for name in sizes:
        if getattr(args, name) is not None:
            sizes[name] = max(1, getattr(args, name))
    emit_json(run(sizes["envelopes"], sizes["authorisations"], sizes["raw"]))


if __name__ == "__main__":
    main()
