"""Fixtures: a node on SQLite or a real PostgreSQL cluster, an HTTP client, tokens, a clock."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import Result

from tests.support.pgcluster import PgCluster
from yikatong.api.app import create_app
from yikatong.api.auth import issue_token
from yikatong.core import clock, db
from yikatong.core.settings import Settings
from yikatong.node import Node, set_current

BACKENDS = ("sqlite", "postgresql")
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend: every integration test runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ykt.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    return cluster.create_database(f"t_{worker}_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def fixed_clock() -> Iterator[clock.FixedClock]:
    """Time stands at 2025-03-10 10:00 Beijing time unless the test moves it."""
    fixed = clock.FixedClock(dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC))
    with clock.clock_override(fixed):
        yield fixed


@pytest.fixture
def node(db_url: str, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(data_dir=tmp_path / "node", database_url=db_url, city_code="370200")
    opened = Node.open(settings)
    db.create_schema(opened.engine)
    set_current(opened)
    yield opened
    set_current(None)
    opened.close()


@pytest.fixture
def client(node: Node) -> Iterator[TestClient]:
    with TestClient(create_app(node=node), raise_server_exceptions=True) as test_client:
        yield test_client


AuthHeaders = Callable[..., dict[str, str]]


@pytest.fixture
def auth(node: Node) -> AuthHeaders:
    """``auth("clerk")`` or ``auth("resident", resident_id=5)`` → Authorization header."""

    def headers(
        *roles: str, subject: str | None = None, resident_id: int | None = None
    ) -> dict[str, str]:
        token = issue_token(
            node, subject or f"test-{'-'.join(roles)}", list(roles), resident_id=resident_id
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


Ykt = Callable[..., Result]


@pytest.fixture
def ykt(node: Node) -> Ykt:
    """Run ``ykt …`` (the real Typer app) on the test node's database and keys.

    The command opens its own node from ``YKT_*``; afterwards the test node is current again.
    """
    from typer.testing import CliRunner

    from yikatong import node as node_module
    from yikatong.cli import app

    runner = CliRunner()
    env = {
        "YKT_DATABASE_URL": node.settings.effective_database_url,
        "YKT_DATA_DIR": str(node.settings.data_dir),
        "YKT_CITY_CODE": node.settings.city_code,
        "COLUMNS": "200",
    }

    def run(*args: str) -> Result:
        try:
            return runner.invoke(app, list(args), env=env)
        finally:
            opened = node_module.current()
            if opened is not node:
                opened.close()
            node_module.set_current(node)

    return run
