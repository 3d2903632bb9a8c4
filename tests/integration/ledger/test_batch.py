"""The bulk path: thousands per transaction, one outcome per request, good ones never aborted."""

from __future__ import annotations

import threading

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from tests.integration.ledger._books import Books, counters, open_books, request
from yikatong.core import clock
from yikatong.core.errors import Conflict
from yikatong.ledger import service
from yikatong.ledger.models import Transfer
from yikatong.ledger.service import BatchStatus
from yikatong.node import Node


def test_a_batch_posts_good_requests_and_rejects_bad_ones(session: Session, books: Books) -> None:
    outcomes = service.post_batch(
        session,
        [
            request("topup", books.bank, books.card, 1_000),
            request("meal-1", books.card, books.canteen, 600),
            request("meal-2", books.card, books.canteen, 600),  # only 400 left
            request("zero", books.bank, books.card, 0),
            service.TransferRequest("ghost", books.bank.id, 999_999, 5),
            request("meal-3", books.card, books.canteen, 400),
        ],
    )
    assert [o.status for o in outcomes] == [
        BatchStatus.POSTED,
        BatchStatus.POSTED,
        BatchStatus.REJECTED,
        BatchStatus.REJECTED,
        BatchStatus.REJECTED,
        BatchStatus.POSTED,
    ]
    assert [o.error for o in outcomes if o.error] == [
        "insufficient-funds",
        "invalid-input",
        "not-found",
    ]
    assert service.balance(session, books.card.id) == 0
    assert service.balance(session, books.canteen.id) == 1_000
    assert service.verify(session) == []


def test_a_batch_replay_reports_duplicates(session: Session, books: Books) -> None:
    batch = [request(f"k{i}", books.bank, books.card, 10) for i in range(50)]
    first = service.post_batch(session, batch)
    again = service.post_batch(session, batch)
    assert {o.status for o in again} == {BatchStatus.DUPLICATE}
    assert [o.transfer_id for o in again] == [o.transfer_id for o in first]
    assert service.balance(session, books.card.id) == 500


def test_a_key_repeated_inside_a_batch_posts_once(session: Session, books: Books) -> None:
    outcomes = service.post_batch(
        session,
        [
            request("same", books.bank, books.card, 10),
            request("same", books.bank, books.card, 10),
            request("same", books.bank, books.card, 11),
        ],
    )
    assert [o.status for o in outcomes] == [
        BatchStatus.POSTED,
        BatchStatus.DUPLICATE,
        BatchStatus.REJECTED,
    ]
    assert outcomes[1].transfer_id == outcomes[0].transfer_id
    assert counters(session, books.card) == (0, 10, 0, 0)


def test_a_batch_reuses_keys_of_single_postings(session: Session, books: Books) -> None:
    single = service.post_transfer(session, request("k", books.bank, books.card, 10))
    (outcome,) = service.post_batch(session, [request("k", books.bank, books.card, 10)])
    assert outcome.status is BatchStatus.DUPLICATE
    assert outcome.transfer_id == single.id


def test_a_batch_can_place_holds(session: Session, books: Books) -> None:
    service.post_transfer(session, request("topup", books.bank, books.card, 100))
    outcomes = service.post_batch(
        session,
        [
            request("h1", books.card, books.canteen, 60, pending=True),
            request("h2", books.card, books.canteen, 60, pending=True),
        ],
    )
    assert [o.status for o in outcomes] == [BatchStatus.POSTED, BatchStatus.REJECTED]
    assert counters(session, books.card) == (0, 100, 60, 0)


def test_thousands_in_one_batch(session: Session, books: Books) -> None:
    n = 3_000
    outcomes = service.post_batch(
        session, [request(f"fare-{i}", books.bank, books.card, 1) for i in range(n)]
    )
    assert sum(o.status is BatchStatus.POSTED for o in outcomes) == n
    assert len({o.transfer_id for o in outcomes}) == n
    assert service.balance(session, books.card.id) == n


def test_a_key_taken_concurrently_for_other_accounts_posts_nothing_twice(node: Node) -> None:
    """Two batches, different accounts, the same key: the second sees a conflict, never a twin."""
    with node.transaction() as session:
        first_books = open_books(session, "a-")
        second_books = open_books(session, "b-")
    outcome: list[object] = []

    def second() -> None:
        try:
            with node.transaction() as session:
                (result,) = service.post_batch(
                    session, [request("shared", second_books.bank, second_books.card, 5)]
                )
                outcome.append(result)
        except Conflict as error:
            outcome.append(error)

    with node.transaction() as session:
        (posted,) = service.post_batch(
            session, [request("shared", first_books.bank, first_books.card, 5)]
        )
        assert posted.status is BatchStatus.POSTED
        worker = threading.Thread(target=second)
        worker.start()
        worker.join(0.5)  # it waits for this transaction (key index or write lock)
    worker.join(30)
    (result,) = outcome
    # PostgreSQL refuses the whole second batch; SQLite (one writer) rejects the request.
    if isinstance(result, Conflict):
        assert "collides" in str(result)
    else:
        assert isinstance(result, service.BatchOutcome)
        assert (result.status, result.error) == (BatchStatus.REJECTED, "conflict")
    with node.transaction() as session:
        assert session.scalar(select(func.count()).where(Transfer.idempotency_key == "shared")) == 1
        assert service.balance(session, second_books.card.id) == 0
        assert service.verify(session) == []


def test_a_batch_is_stored_like_single_postings_and_counted_at_its_second(
    session: Session, books: Books, fixed_clock: clock.FixedClock
) -> None:
    """On a whole second the bulk path stores the same timestamp text as single postings, so a
    balance at that second counts both (SQLite compares stored timestamps as text)."""
    at = fixed_clock.now().replace(microsecond=0)
    fixed_clock.set(at)
    service.post_transfer(session, request("single", books.bank, books.card, 100))
    service.post_batch(session, [request("bulk", books.bank, books.card, 200)])
    session.flush()
    stored = session.execute(
        select(Transfer.idempotency_key, cast(Transfer.created_at, String))
        .where(Transfer.idempotency_key.in_(("single", "bulk")))
        .order_by(Transfer.idempotency_key)
    ).all()
    assert stored[0][1] == stored[1][1]
    assert service.balance_at(session, books.card.id, at) == 300
