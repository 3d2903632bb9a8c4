"""Concurrent terminal requests: retries of one tap (the same terminal sequence) charge once;
a burst of requests is answered within the database connections the node keeps."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
from sqlalchemy import event
from sqlalchemy.pool import QueuePool

from tests.integration.acquiring._kit import Device, Kit
from yikatong.acquiring import service
from yikatong.api.app import create_app
from yikatong.ledger import service as ledger

PAY = "/api/v1/terminal/payments"


def test_concurrent_retries_of_a_tap_are_one_tap_charged_once(kit: Kit) -> None:
    kit.merchant("qd-shop", "shop")
    kit.device("SHOP-0001", "qd-shop")
    rider = kit.rider()
    kit.fund(rider, fin=10_000)
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def fixed(*_: object) -> service.Priced:
        return service.Priced(700)

    def worker() -> None:
        try:
            start.wait()
            with kit.node.transaction() as session:
                terminal = service.get_terminal(session, "SHOP-0001")
                tap = service.authorise(
                    session, terminal, terminal_seq=42, card_no=rider.card_no, price=fixed
                )
                results.append(tap.id)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 4
    with kit.node.transaction() as session:
        fin = service.card_account(session, rider.card_no, "fin")
        assert ledger.balance(session, fin) == 10_000 - 700


def test_a_burst_of_terminal_requests_holds_no_more_connections_than_the_pool_keeps(
    kit: Kit,
) -> None:
    """Twenty tills pay at once: each is answered and charged, and the requests waiting for
    their turn wait without a database connection (none is opened beyond the pool)."""
    kit.merchant("qd-shop", "shop")
    rider = kit.rider()
    kit.fund(rider, fin=100_000)
    devices = [kit.device(f"SHOP-{n:04d}", "qd-shop") for n in range(20)]
    pool = kit.node.engine.pool
    assert isinstance(pool, QueuePool)
    held = 0
    most = 0
    guard = threading.Lock()

    def checkout(*_: object) -> None:
        nonlocal held, most
        with guard:
            held += 1
            most = max(most, held)

    def checkin(*_: object) -> None:
        nonlocal held
        with guard:
            held -= 1

    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(node=kit.node))
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:

            async def pay(device: Device) -> httpx.Response:
                body = json.dumps({"terminal_seq": 1, "card_no": rider.card_no, "amount": "1.00"})
                headers = device.headers("POST", PAY, body.encode())
                return await client.post(PAY, content=body, headers=headers)

            return await asyncio.gather(*(pay(device) for device in devices))

    try:
        answers = asyncio.run(burst())
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    assert {a.json()["decision"] for a in answers} == {"approve"}
    assert most > 0  # the tills' requests did use the pool
    assert most <= pool.size(), f"{most} connections held at once; the pool has {pool.size()}"
    with kit.node.transaction() as session:
        fin = service.card_account(session, rider.card_no, "fin")
        assert ledger.balance(session, fin) == 100_000 - 20 * 100
