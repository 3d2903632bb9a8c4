"""Terminal requests are authenticated by the terminal's own key over the exact body."""

from __future__ import annotations

import datetime as dt
import gc
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from tests.conftest import AuthHeaders, Ykt
from tests.integration.acquiring._kit import Kit, send
from tests.support.pgcluster import PgCluster
from yikatong.acquiring import service
from yikatong.acquiring.models import Terminal
from yikatong.core import db
from yikatong.core.errors import Unauthorized
from yikatong.core.settings import Settings
from yikatong.node import Node, set_current

PAY = "/api/v1/terminal/payments"


@pytest.fixture
def shop(kit: Kit) -> Kit:
    kit.merchant("qd-shop", "shop")
    return kit


@pytest.mark.parametrize("algorithm", ["Ed25519", "SM2"])
def test_a_signed_request_from_a_registered_terminal_is_accepted(
    shop: Kit, client: TestClient, algorithm: str
) -> None:
    rider = shop.rider()
    shop.fund(rider, fin=5000)
    device = shop.device("SHOP-0001", "qd-shop", algorithm=algorithm)
    answer = send(
        client, device, PAY, {"terminal_seq": 1, "card_no": rider.card_no, "amount": "12.50"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "approve"
    assert answer.json()["amount"] == 1250


def test_a_body_changed_after_signing_is_refused(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    device = shop.device("SHOP-0002", "qd-shop")
    signed = b'{"terminal_seq": 1, "card_no": "%s", "amount": "1.00"}' % rider.card_no.encode()
    headers = device.headers("POST", PAY, signed)
    tampered = signed.replace(b"1.00", b"0.01")
    answer = client.post(PAY, content=tampered, headers=headers)
    assert answer.status_code == 401
    assert "does not verify" in answer.json()["detail"]


def test_another_terminals_key_does_not_verify(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    mine = shop.device("SHOP-0003", "qd-shop")
    other = shop.device("SHOP-0004", "qd-shop")
    other.terminal_no = mine.terminal_no  # signs as SHOP-0003 with SHOP-0004's key
    answer = send(client, other, PAY, {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"})
    assert answer.status_code == 401


def test_a_replayed_request_sequence_is_refused(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    shop.fund(rider, fin=1000)
    device = shop.device("SHOP-0005", "qd-shop")
    body = {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"}
    assert send(client, device, PAY, body, seq=7).status_code == 200
    replay = send(client, device, PAY, body, seq=7)
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert send(client, device, PAY, body, seq=6).status_code == 401


def test_a_request_outside_the_time_window_is_refused(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    device = shop.device("SHOP-0006", "qd-shop")
    from yikatong.core import clock

    stale = clock.now() - dt.timedelta(minutes=10)
    body = {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"}
    answer = send(client, device, PAY, body, at=stale)
    assert answer.status_code == 401
    assert "clock" in answer.json()["detail"]


def test_missing_headers_and_unknown_or_retired_terminals_are_refused(
    shop: Kit, client: TestClient
) -> None:
    assert client.post(PAY, json={"terminal_seq": 1}).status_code == 401
    device = shop.device("SHOP-0007", "qd-shop")
    with shop.node.transaction() as session:
        service.retire_terminal(session, "SHOP-0007")
    rider = shop.rider()
    body = {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"}
    assert send(client, device, PAY, body).status_code == 401


def test_authentication_consumes_nothing_when_the_signature_is_wrong(shop: Kit) -> None:
    device = shop.device("SHOP-0008", "qd-shop")
    with shop.node.transaction() as session:
        with pytest.raises(Unauthorized):
            service.authenticate_terminal(
                session,
                terminal_no=device.terminal_no,
                timestamp="0",
                seq="5",
                signature="00" * 64,
                method="POST",
                path=PAY,
                body=b"{}",
            )
        assert service.get_terminal(session, "SHOP-0008").last_request_seq == 0


def _authenticate(session: Session, headers: dict[str, str]) -> Terminal:
    """``authenticate_terminal`` of a POST of ``{}`` to the payments path, signed as in ``headers``."""
    return service.authenticate_terminal(
        session,
        terminal_no=headers["X-Terminal"],
        timestamp=headers["X-Timestamp"],
        seq=headers["X-Sequence"],
        signature=headers["X-Signature"],
        method="POST",
        path=PAY,
        body=b"{}",
    )


def test_the_terminals_merchant_is_read_with_it_and_kept_for_the_request(shop: Kit) -> None:
    """Every terminal request needs the terminal's merchant. It is read in the same statement as
    the terminal and kept in the session: looking it up again later in the request asks the
    database nothing, even after a garbage collection (a session holds what it has read only
    as long as something else refers to it)."""
    device = shop.device("SHOP-0009", "qd-shop")
    headers = device.headers("POST", PAY, b"{}")
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = shop.node.engine
    with shop.node.transaction() as session:
        terminal = _authenticate(session, headers)
        gc.collect()
        event.listen(engine, "before_cursor_execute", record)
        try:
            merchant = service.merchant_of(session, terminal)
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert merchant.code == "qd-shop"
    assert statements == []


@pytest.fixture
def pg_node(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[Node]:
    url = pg_cluster.create_database(f"terminals_{os.getpid()}")
    opened = Node.open(Settings(data_dir=tmp_path / "node", database_url=url, demo=True))
    db.create_schema(opened.engine)
    set_current(opened)
    yield opened
    set_current(None)
    opened.close()


def test_a_terminal_retired_while_its_request_waits_is_refused(pg_node: Node) -> None:
    """PostgreSQL: a request reads the terminal as active, then waits for the row while a clerk
    retires it. The request's sequence update reads the terminal as the clerk left it, and the
    request is refused without consuming its sequence."""
    shop = Kit(pg_node)
    shop.merchant("qd-shop", "shop")
    device = shop.device("SHOP-0010", "qd-shop")
    headers = device.headers("POST", PAY, b"{}")
    outcome: list[BaseException | str] = []

    def request() -> None:
        try:
            with pg_node.transaction() as session:
                _authenticate(session, headers)
            outcome.append("accepted")
        except BaseException as exc:  # reported below
            outcome.append(exc)

    with pg_node.transaction() as clerk:
        service.retire_terminal(clerk, "SHOP-0010")  # holds the row until committed
        waiting = threading.Thread(target=request)
        waiting.start()
        deadline = time.monotonic() + 20
        with pg_node.engine.connect() as watch:
            while time.monotonic() < deadline:
                blocked = watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar_one()
                watch.rollback()  # a transaction sees one snapshot of pg_stat_activity
                if blocked:
                    break
                time.sleep(0.02)
        assert blocked == 1, outcome  # the request waits for the clerk's row
    waiting.join(20)
    assert len(outcome) == 1 and isinstance(outcome[0], Unauthorized), outcome
    assert "retired" in str(outcome[0])
    with pg_node.transaction() as session:
        assert service.get_terminal(session, "SHOP-0010").last_request_seq == 0


def test_registration_refuses_bad_input_and_duplicates(
    shop: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    admin = auth("admin")
    ok = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0100", "merchant": "qd-shop", "algorithm": "SM2"},
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
    assert len(bytes.fromhex(ok.json()["private_key"])) == 96  # SM2 private ‖ public
    again = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0100", "merchant": "qd-shop"},
        headers=admin,
    )
    assert again.status_code == 409
    short_key = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0101", "merchant": "qd-shop", "public_key": "abcd"},
        headers=admin,
    )
    assert short_key.status_code == 422
    assert short_key.json()["errors"][0]["field"] == "public_key"
    clerk = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0102", "merchant": "qd-shop"},
        headers=auth("clerk"),
    )
    assert clerk.status_code == 403
    listed = client.get("/api/v1/acquiring/terminals", headers=auth("auditor")).json()
    assert [t["terminal_no"] for t in listed] == ["SHOP-0100"]
    assert listed[0]["private_key"] is None


def test_cli_registers_and_lists_terminals(shop: Kit, ykt: Ykt) -> None:
    made = ykt("terminal", "register", "BUS-0042", "--merchant", "qd-shop", "--line", "26")
    assert made.exit_code == 0, made.output
    assert "private key" in made.output
    listed = ykt("terminal", "list")
    assert listed.exit_code == 0
    assert "BUS-0042" in listed.output
    unknown = ykt("terminal", "register", "BUS-0043", "--merchant", "nobody")
    assert unknown.exit_code == 3
    bad = ykt("terminal", "register", "x", "--merchant", "qd-shop")
    assert bad.exit_code == 2
