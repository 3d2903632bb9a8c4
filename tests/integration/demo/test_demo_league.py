"""``ykt demo --league``: three city nodes on loopback ports, each with its own database and demo
people; a Jinan resident's card works on a Qingdao bus (asked of Jinan online), yesterday's
cross-city payments clear with statements that agree, and Ctrl-C stops all three."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

YKT = str(Path(sys.executable).parent / "ykt")
QINGDAO, JINAN, ZHENGZHOU = "370200", "370100", "410100"


def _three_free_ports() -> int:
    """A base port whose next two ports are free as well."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base > 65000:
            continue
        try:
            for port in (base, base + 1, base + 2):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no three consecutive free ports")


def _wait(predicate: Any, *, timeout: float, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ykt demo --league exited while waiting for {what}")
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def league_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("demo-league")
    base = _three_free_ports()
    out = (data_dir / "demo.out").open("w")
    process = subprocess.Popen(
        [YKT, "demo", "--league", "--residents", "120", "--base-port", str(base)],
        env={**os.environ, "YKT_DATA_DIR": str(data_dir), "COLUMNS": "200"},
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    summary_file = data_dir / "league" / "demo.json"
    try:
        _wait(summary_file.exists, timeout=120, what="the demo data", process=process)
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        for city in summary["cities"].values():
            url = city["url"]
            _wait(
                lambda url=url: httpx.get(f"{url}/api/v1/node", timeout=1).is_success,
                timeout=90,
                what=url,
                process=process,
            )
        yield {"summary": summary, "process": process, "output": data_dir / "demo.out"}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        out.close()


def _admin(city: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {city['tokens']['admin-demo']}"}


def test_three_nodes_with_their_own_data_and_a_jinan_card_on_a_qingdao_bus(
    league_demo: dict[str, Any],
) -> None:
    summary = league_demo["summary"]
    cities = summary["cities"]
    assert sorted(cities) == sorted([QINGDAO, JINAN, ZHENGZHOU])
    assert len({c["url"] for c in cities.values()}) == 3
    assert len({c["database"] for c in cities.values()}) == 3
    for code, city in cities.items():
        node = httpx.get(f"{city['url']}/api/v1/node").json()
        assert node["city_code"] == code
    # Each city's own people, with its own districts: a Jinan demo account is not Qingdao's.
    qingdao_cards = {a["card_ref"] for a in cities[QINGDAO]["accounts"]}
    visitor = summary["visitor"]
    assert visitor["city_code"] == JINAN and visitor["card_ref"] not in qingdao_cards

    # Catalogues were published: Qingdao's reached Jinan through the dispatchers.
    def published() -> bool:
        url = f"{cities[JINAN]['url']}/api/v1/federation/catalogue/{QINGDAO}"
        return len(httpx.get(url).json()) == 26

    _wait(published, timeout=60, what="Qingdao's catalogue", process=league_demo["process"])

    terminal = {"Authorization": f"Bearer {cities[QINGDAO]['tokens']['terminal-demo-bus-001']}"}
    ride = httpx.post(
        f"{cities[QINGDAO]['url']}/api/v1/federation/authorisations",
        json={
            "issuer_city": JINAN,
            "instrument": "card",
            "card_ref": visitor["card_ref"],
            "amount": "2.00",
            "scenario": "transport.bus",
        },
        headers=terminal,
    )
    assert ride.status_code == 200, ride.text
    decision = ride.json()
    assert (decision["decision"], decision["mode"], decision["reason"]) == (
        "approved",
        "online",
        "card-active",
    )
    assert decision["request_id"] is not None


def test_yesterdays_payments_clear_with_statements_that_agree(
    league_demo: dict[str, Any],
) -> None:
    summary = league_demo["summary"]
    qingdao, jinan = summary["cities"][QINGDAO], summary["cities"][JINAN]
    day = summary["yesterday"]
    # Each acquirer queued yesterday's payments to their issuers: clear once every city's
    # outbox is delivered (cases with cities outside the league travel in packet files and
    # never enter it, so it does empty).

    def undelivered(city: dict[str, Any]) -> int:
        engine = create_engine(city["database"])
        try:
            with engine.connect() as connection:
                return int(
                    connection.execute(
                        text("SELECT count(*) FROM outbox_message WHERE delivered_at IS NULL")
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    for city in (qingdao, jinan):
        _wait(
            lambda city=city: undelivered(city) == 0,
            timeout=60,
            what=f"{city['url']} to deliver its queued payments",
            process=league_demo["process"],
        )
    for city, other in ((qingdao, JINAN), (jinan, QINGDAO)):
        run = httpx.post(
            f"{city['url']}/api/v1/federation/clearing/runs",
            json={"counterparty": other, "business_date": day},
            headers=_admin(city),
        )
        assert run.status_code == 200, run.text
    # demo/league.py YESTERDAY: Jinan cards 3 × 2.00 + 35.50 in Qingdao, Qingdao cards
    # 2.00 + 4.00 in Jinan → Jinan owes Qingdao 35.50 yuan.
    runs = httpx.get(f"{qingdao['url']}/api/v1/federation/clearing/runs", headers=_admin(qingdao))
    assert [(r["counterparty"], r["net"], r["lines"]) for r in runs.json()] == [(JINAN, "35.50", 6)]

    def reports(city: dict[str, Any]) -> list[dict[str, Any]]:
        url = f"{city['url']}/api/v1/federation/clearing/reports"
        return list(httpx.get(url, headers=_admin(city)).json())

    _wait(
        lambda: len(reports(qingdao)) == 1 and len(reports(jinan)) == 1,
        timeout=60,
        what="both statements",
        process=league_demo["process"],
    )
    for city, net in ((qingdao, 3550), (jinan, -3550)):
        [report] = reports(city)
        assert (report["status"], report["matched"], report["our_net_fen"]) == (
            "balanced",
            6,
            net,
        )
        assert report["their_net_fen"] == -net


def test_ctrl_c_stops_all_three_nodes(league_demo: dict[str, Any]) -> None:
    process: subprocess.Popen[str] = league_demo["process"]
    urls = [c["url"] for c in league_demo["summary"]["cities"].values()]
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/api/v1/node", timeout=2)
    output = league_demo["output"].read_text(encoding="utf-8")
    assert "all nodes stopped" in output
