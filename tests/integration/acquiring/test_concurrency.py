"""Concurrent retries of one tap (the same terminal sequence) charge once."""

from __future__ import annotations

import threading

from tests.integration.acquiring._kit import Kit
from yikatong.acquiring import service
from yikatong.ledger import service as ledger


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
