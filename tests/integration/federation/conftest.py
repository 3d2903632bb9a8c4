"""Two cities on the same backend: Qingdao (the ``node`` fixture, 370200) and Yantai (370600).

Both belong to a league file signed by a test operator key. Yantai's node has its own database.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yikatong.api.app import create_app
from yikatong.core import clock, db
from yikatong.core.settings import Settings
from yikatong.crypto.keyring import SigningKey
from yikatong.federation import league as lg
from yikatong.federation.envelope import Envelope, seal
from yikatong.node import Node, set_current

QINGDAO, YANTAI, WEIFANG = "370200", "370600", "370700"
_counter = itertools.count()


@dataclass
class League:
    path: Path
    operator: SigningKey
    weifang_key: SigningKey  # a third city whose private key the test holds


def _second_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    return str(cluster.create_database(f"f_{name}_{os.getpid()}_{next(_counter)}"))


@pytest.fixture
def yantai_node(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest, node: Node
) -> Iterator[Node]:
    settings = Settings(
        data_dir=tmp_path / "yantai",
        database_url=_second_url(db_url, tmp_path, request, "yantai"),
        city_code=YANTAI,
        city_name="烟台",
        signature_algorithm="Ed25519",
    )
    opened = Node.open(settings)
    db.create_schema(opened.engine)
    yield opened
    opened.close()
    set_current(node)


@pytest.fixture
def league(node: Node, yantai_node: Node, tmp_path: Path) -> League:
    """A signed league of Qingdao, Yantai and Weifang; both nodes are configured with it."""
    operator = SigningKey.generate("league", "SM2", clock.now())
    weifang = SigningKey.generate(WEIFANG, "Ed25519", clock.now())
    document = lg.new_document("胶东经济圈", operator)
    for city, name, key in (
        (QINGDAO, "青岛", node.signing_key()),
        (YANTAI, "烟台", yantai_node.signing_key()),
        (WEIFANG, "潍坊", weifang),
    ):
        document = lg.with_member(
            document,
            city_code=city,
            name=name,
            endpoint="http://testserver",
            key=key.verify_key(),
        )
    path = tmp_path / "league.json"
    path.write_text(lg.sign_document(document, operator).to_json(), encoding="utf-8")
    node.settings.league_file = path
    yantai_node.settings.league_file = path
    return League(path, operator, weifang)


@pytest.fixture
def yantai_client(yantai_node: Node, league: League) -> Iterator[TestClient]:
    app = create_app(node=yantai_node)
    # No lifespan: the test drives the dispatcher itself.
    yield TestClient(app, raise_server_exceptions=True)


Sealer = Callable[..., Envelope]


@pytest.fixture
def from_yantai(yantai_node: Node, league: League) -> Sealer:
    """``from_yantai(seq, text=…, stream=…)`` → an envelope Yantai signed for Qingdao."""

    def make(
        seq: int,
        *,
        text: str | None = None,
        stream: str = "notes",
        payload_type: str = "note",
        body: dict[str, Any] | None = None,
        message_id: str | None = None,
        **over: Any,
    ) -> Envelope:
        return seal(
            message_id=message_id or str(uuid.uuid4()),
            sender=YANTAI,
            receiver=QINGDAO,
            stream=stream,
            seq=seq,
            payload_type=payload_type,
            body=body if body is not None else {"text": text or f"note {seq}"},
            key=yantai_node.signing_key(),
            created_at=over.pop("created_at", clock.now()),
        )

    return make
