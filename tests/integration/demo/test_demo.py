"""``ykt demo``: the embedded database is created from the migrations, the demo city is loaded
through the domain services, and what it prints lets a person sign in and use the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from yikatong import node as node_module
from yikatong.api.app import create_app
from yikatong.cards import service as cards
from yikatong.cards.models import CardState
from yikatong.cli import app
from yikatong.core import db
from yikatong.demo.load import DEMO_ACCOUNTS, load_demo
from yikatong.essc import service as essc
from yikatong.node import Node
from yikatong.registry import service as registry


@pytest.fixture
def empty_node(node: Node) -> Node:
    """The test node with no tables at all, as on a fresh machine."""
    db.Base.metadata.drop_all(node.engine)
    return node


def test_the_demo_loads_a_city_once(empty_node: Node) -> None:
    report = load_demo(empty_node, residents=400, seed=11, domains=())
    assert (report.residents, report.rejected) == (400, 0)
    assert report.relations > 100
    with empty_node.transaction() as session:
        assert registry.count_residents(session) == 400
        counts = cards.card_count_by_state(session)
        assert counts.get(CardState.ACTIVE, 0) > 250
        assert sum(counts.values()) >= 400
        assert len(report.accounts) == DEMO_ACCOUNTS
        for account in report.accounts:
            bound = essc.account_of(session, account.resident_id)
            assert bound is not None and bound.app_account_id == account.app_account_id
            assert len(essc.family_of(session, bound.id)) == len(account.family)
    again = load_demo(empty_node, residents=400, seed=11, domains=())
    assert again.already_loaded
    with empty_node.transaction() as session:
        assert registry.count_residents(session) == 400
        assert sum(cards.card_count_by_state(session).values()) == sum(counts.values())


def test_the_printed_tokens_work_on_the_api(empty_node: Node) -> None:
    report = load_demo(empty_node, residents=200, seed=5, domains=())
    resident = report.accounts[0]
    with TestClient(create_app(node=empty_node)) as client:
        own = client.get(
            f"/api/v1/residents/{resident.resident_id}",
            headers={"Authorization": f"Bearer {resident.token}"},
        )
        assert own.status_code == 200, own.text
        assert own.json()["id_number_masked"] == resident.id_masked
        code = client.post(
            "/api/v1/essc/qr",
            json={"level": "L1"},
            headers={"Authorization": f"Bearer {resident.token}"},
        )
        assert code.status_code == 200, code.text
        terminal = report.staff_tokens["terminal-demo-bus-001"]
        verdict = client.post(
            "/api/v1/essc/verify",
            json={"text": code.json()["text"]},
            headers={"Authorization": f"Bearer {terminal}"},
        )
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["identity"]["id_number"] == resident.id_masked
        home = client.get("/")
        assert home.status_code == 200
        assert "200" in home.text and "社保卡" in home.text


def test_ykt_demo_no_serve_creates_the_embedded_database(tmp_path: Path, node: Node) -> None:
    data_dir = tmp_path / "var"
    runner = CliRunner()
    try:
        result = runner.invoke(
            app,
            ["demo", "--no-serve", "--residents", "150"],
            env={"YKT_DATA_DIR": str(data_dir), "YKT_DATABASE_URL": "", "COLUMNS": "200"},
        )
    finally:
        node_module.set_current(node)
    assert result.exit_code == 0, result.output
    assert (data_dir / "yikatong.db").is_file()
    assert "loaded 150 residents" in result.output
    tokens = (data_dir / "demo" / "tokens.tsv").read_text(encoding="utf-8").splitlines()
    assert {line.split("\t")[0] for line in tokens} >= {"clerk-demo", "auditor-demo", "demo-1"}
    assert all(line.split("\t")[1].startswith("ykt1.") for line in tokens)
